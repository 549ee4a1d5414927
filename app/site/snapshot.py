"""The static site's first picture: every view drawn once, at build time, from the real model,
as plain HTML and SVG that shows before any script runs.

The page holds one small snapshot per view; the one for the view in the address (or the
default view) is shown while Python starts in the browser, then the live lab replaces it.
Every piece of text is escaped; the pictures are a few SVG paths (cells of a heat map are
grouped into a handful of shades, one path per shade), so a view costs a few kilobytes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from importlib import resources

import numpy as np

from app.views.parts.heatmap import DIVERGING_SHADES, SEQUENTIAL
from app.views.parts.markup import chips, esc, table_html, visible
from engine.lens import depth_names
from engine.residual import track_norms
from engine.scale import GPT2_SMALL, GPT3_175B, scale_of

SHADES = 8
STEPS = tuple(SEQUENTIAL[round(i * (len(SEQUENTIAL) - 1) / (SHADES - 1))] for i in range(SHADES))
TOP = 8  # bars in the next-token snapshot
WINDOW = 48  # characters of the training text in the examples snapshot
EMBED_COLUMNS = 32  # of the embedding's n_embd, drawn in the snapshot


def snapshots(session, titles: dict[str, str]) -> dict[str, str]:
    """HTML for each view key in `titles` (key -> title), drawn from `session` (a LabSession
    whose prompt has been run) in its language; views without a drawing of their own show
    the prompt."""
    drawings: dict[str, Callable] = {
        "tokens": _tokens, "examples": _examples, "embedding": _embedding,
        "attention": _attention, "residual": _residual, "next": _next_token,
        "training": _training, "scale": _scale, "code": _code,
    }
    return {key: (f"<h2>{esc(session.tr(title))}</h2>"
                  + drawings.get(key, _prompt)(session))
            for key, title in titles.items()}


# ---- one drawing per view ---------------------------------------------------------------------


def _pieces(session, ids: Sequence[int]) -> list[str]:
    return [session.tokenizer.decode([int(i)]) for i in ids]


def _prompt(session) -> str:
    return chips(_pieces(session, session.ids), session.ids)


def _tokens(session) -> str:
    said = session.tr("{n} tokens, vocabulary of {V}: one token per character.",
                      n=len(session.ids), V=session.config.vocab_size)
    return _prompt(session) + f"<p class='explain'>{esc(said)}</p>"


def _examples(session) -> str:
    text = session.corpus[:WINDOW + 1]
    if len(text) < 2:
        return _prompt(session)
    lessons = [(visible(text[:i]), visible(text[i])) for i in range(1, 7)]
    return (f"<div class='window'><span class='ctx'>{esc(text[:-1])}</span>"
            f"<span class='tgt'>{esc(text[-1])}</span></div>"
            + table_html([session.tr("context"), session.tr("next")], lessons,
                         classes="examples"))


def _attention(session) -> str:
    weights = session.trace.blocks[0].att[0, 0]
    labels = [visible(p) for p in _pieces(session, session.ids)]
    causal = np.tril(np.ones_like(weights, dtype=bool))
    said = session.tr("Block 0, head 0: how much each token (row) attends to each earlier "
                      "token (column).")
    return (_prompt(session) + f"<p class='explain'>{esc(said)}</p>"
            + heatmap_svg(np.where(causal, weights, np.nan), labels, labels, STEPS, 0.0, 1.0))


def _embedding(session) -> str:
    emb = session.trace.emb[0][:, :EMBED_COLUMNS]
    bound = float(np.abs(emb).max()) or 1.0
    labels = [visible(p) for p in _pieces(session, session.ids)]
    said = session.tr("Each token's row of the embedding (token + position): its first {n} "
                      "of {C} numbers.", n=emb.shape[1], C=session.config.n_embd)
    return (_prompt(session) + f"<p class='explain'>{esc(said)}</p>"
            + heatmap_svg(emb, labels, [], DIVERGING_SHADES, -bound, bound))


def _residual(session) -> str:
    norms = track_norms(session.trace).T  # (sub-blocks, T)
    labels = depth_names(session.config.n_layer)
    said = session.tr("The length of each token's vector (column) after every sub-block "
                      "(row).")
    return (f"<p class='explain'>{esc(said)}</p>"
            + heatmap_svg(norms, labels, [visible(p) for p in _pieces(session, session.ids)],
                          STEPS, float(norms.min()), float(norms.max())))


def _next_token(session) -> str:
    probs = np.asarray(session.next_probs)
    top = np.argsort(probs)[::-1][:TOP]
    bars = "".join(
        f"<div class='bar'><span class='label'>{esc(visible(session.tokenizer.decode([int(i)])))}"
        f"</span><span class='fill' style='width:{100 * probs[i]:.1f}%'></span>"
        f"<span class='p'>{session.tr.number(probs[i], '.3f')}</span></div>" for i in top)
    said = session.tr("Likeliest next tokens at temperature {t:g}:", t=session.temperature)
    return (_prompt(session) + f"<p class='explain'>{esc(said)}</p>"
            f"<div class='bars'>{bars}</div>")


def _training(session) -> str:
    said = session.tr("The text: {n:,} tokens to train on, {held:,} held out to measure. No "
                      "step taken yet: press Train in the live lab.",
                      n=len(session.train_tokens), held=len(session.val_tokens))
    return f"<p class='explain'>{esc(said)}</p>"


def _scale(session) -> str:
    rows = [scale_of("Napkin GPT", session.config), scale_of("GPT-2 small", GPT2_SMALL),
            scale_of("GPT-3 175B", GPT3_175B)]
    tr = session.tr
    return table_html([tr("model"), tr("parameters"), tr("FLOPs per token")],
                      [(r.name, tr.number(r.params, ","), _short(r.flops_per_token))
                       for r in rows])


def _code(session) -> str:
    files = sorted(f for f in resources.files("engine").iterdir() if f.name.endswith(".py"))
    tr = session.tr
    items = "".join(f"<li><code>{esc(f.name)}</code> "
                    + esc(tr("{n} lines", n=len(f.read_text().splitlines()))) + "</li>"
                    for f in files)
    said = tr("The engine the lab runs, file by file:")
    return f"<p class='explain'>{esc(said)}</p><ul>{items}</ul>"


def _short(n: int) -> str:
    for unit, size in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return str(n)


# ---- the one picture: a heat map as SVG -------------------------------------------------------


def heatmap_svg(matrix: np.ndarray, row_labels: Sequence[str], col_labels: Sequence[str],
                colours: Sequence[str], low: float, high: float, cell: int = 12) -> str:
    """An SVG heat map of `matrix`: one path per shade, NaN cells left blank; labels (may be
    empty) down the left and along the top."""
    m = np.asarray(matrix, dtype=float)
    rows, cols = m.shape
    left = 10 + 7 * max((len(s) for s in row_labels), default=0)
    top = 14 if col_labels else 0
    scaled = (m - low) / ((high - low) or 1.0)
    level = np.clip(np.floor(scaled * len(colours)), 0, len(colours) - 1)
    paths = []
    for shade, colour in enumerate(colours):
        runs = []  # a row's neighbouring cells of one shade make one rectangle
        for y, row in enumerate(level == shade):
            x = 0
            while x < cols:
                if not row[x]:
                    x += 1
                    continue
                n = int(np.argmin(row[x:])) or cols - x  # cells until the shade changes
                runs.append(f"M{x} {y}h{n}v1h-{n}z")
                x += n
        if runs:
            paths.append(f'<path fill="{colour}" d="{"".join(runs)}"/>')
    text = [f'<text x="{left - 4}" y="{top + cell * (r + 0.75):g}" text-anchor="end">'
            f"{esc(label)}</text>" for r, label in enumerate(row_labels)]
    text += [f'<text x="{left + cell * (c + 0.5):g}" y="10" text-anchor="middle">'
             f"{esc(label)}</text>" for c, label in enumerate(col_labels)]
    width, height = left + cell * cols, top + cell * rows
    return (f'<svg class="heatmap" viewBox="0 0 {width} {height}" width="{width}" '
            f'height="{height}" role="img" aria-label="heat map, {rows} by {cols}">'
            f'<g font-size="10" font-family="monospace">{"".join(text)}</g>'
            f'<g transform="translate({left} {top}) scale({cell})">{"".join(paths)}</g></svg>')

