"""Safe HTML for text that comes from readers: every piece of it is escaped here.

Token pieces get visible stand-ins for invisible characters, so " " shows as "␣" and a
newline as "⏎", and each token id its own colour. Tables come from `table_html`, which
escapes every cell but those marked `Markup` (HTML we built, its text escaped with `esc`).
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from functools import cache
from importlib import resources

import panel as pn

from app.i18n import N_

VISIBLE = {" ": "␣", "\n": "⏎", "\t": "⇥", "\r": "␍"}


@cache
def stylesheet() -> str:
    return resources.files("app").joinpath("style.css").read_text(encoding="utf-8")


def esc(text: str) -> str:
    """Escape text for HTML (quotes too), so that "<script>" shows as text."""
    return html.escape(str(text), quote=True)


class Markup(str):
    """HTML that is safe as it is: built by the lab from its own tags and text escaped with
    `esc`. `table_html` puts a Markup cell in the table unchanged and escapes any other."""


def table_html(header: Sequence, rows: Iterable[Sequence], classes: str = "data",
               row_classes: Iterable[str] | None = None) -> Markup:
    """A table: the `header` cells, then one row per item of `rows`. Every cell is escaped
    (numbers too, written with str: format them first) unless it is Markup. `classes` is the
    table's CSS class; `row_classes` gives each row one ("" for none)."""

    def cells(tag: str, row: Sequence) -> str:
        return "".join(f"<{tag}>{c if isinstance(c, Markup) else esc(c)}</{tag}>" for c in row)

    rows = list(rows)
    marks = [f" class='{esc(c)}'" if c else "" for c in row_classes or [""] * len(rows)]
    body = "".join(f"<tr{mark}>{cells('td', row)}</tr>"
                   for mark, row in zip(marks, rows, strict=True))
    return Markup(f"<table class='{esc(classes)}'><tr>{cells('th', header)}</tr>{body}</table>")


def visible(piece: str) -> str:
    """A token piece with its invisible characters made visible (not yet escaped)."""
    return "".join(VISIBLE.get(ch, ch) for ch in piece)


def token_colour(token_id: int) -> str:
    """A light colour per id; ids far apart in the golden-ratio sequence differ in hue."""
    hue = (token_id * 137.508) % 360
    return f"hsl({hue:.0f}, 70%, 86%)"


def chips(pieces: Sequence[str], ids: Sequence[int], classes: Iterable[str] = ()) -> str:
    """Token chips: each piece over its id, coloured by id; `classes` adds a CSS class per
    chip (for example "unknown" or "merged")."""
    extra = list(classes) or [""] * len(ids)
    return '<div class="chips">' + "".join(
        f'<span class="chip {cls}" style="background:{token_colour(i)}" '
        f'title="token id {i}"><span class="piece">{esc(visible(p))}</span>'
        f'<span class="id">{i}</span></span>'
        for p, i, cls in zip(pieces, ids, extra, strict=True)) + "</div>"


def picture(content: str) -> str:
    """HTML drawn as a picture (token chips, a window over the text): a <figure>, which the
    tour and the phone layout treat as the view's picture."""
    return f'<figure class="picture">{content}</figure>'


def notes(messages: Iterable[str], kind: str = "") -> str:
    return "".join(f'<div class="note {kind}">{esc(m)}</div>' for m in messages if m)


def html_pane(content: str = "", **params) -> pn.pane.HTML:
    """An HTML pane that stretches, styled by the lab's stylesheet; `content` must already
    be safe (built from `esc`)."""
    params.setdefault("sizing_mode", "stretch_width")
    return pn.pane.HTML(f'<div class="napkin">{content}</div>', stylesheets=[stylesheet()],
                        **params)


def set_html(pane: pn.pane.HTML, content: str) -> None:
    pane.object = f'<div class="napkin">{content}</div>'


def explain(text: str, more: str = "", more_about: str = "") -> pn.pane.HTML:
    """The two or three sentences beside a view that say what it shows (our own words);
    `more`, the rest of the explanation, waits behind a "More about this" the reader opens,
    so that the picture stays on a phone's first screen."""
    return html_pane(explanation(text, more, more_about))


def explanation(text: str, more: str = "", more_about: str = "") -> str:
    """explain's HTML; `more_about` is "More about this" in the reader's language."""
    rest = (f'<details class="explain-more"><summary>{more_about or MORE_ABOUT}</summary>'
            f'<p class="explain">{more}</p></details>') if more else ""
    return f'<p class="explain">{text}</p>{rest}'


MORE_ABOUT = N_("More about this")
