"""What a chapter of the tour is: a view's section brought forward, narration whose every
number comes from the live model, and perhaps a question the reader answers first.

A chapter's words are templates (the chapter's data, in one place, ready for translation);
its `facts` are a function of the session's Experiments that returns the live values the
template names. A checkpoint's `check` asks the live model for the right answer, and the
values its `why` names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from app.i18n import N_, translation
from app.session.experiments import Experiments
from app.views.parts.markup import esc, visible

Facts = dict[str, object]
RIGHT = N_("Right.")
NOT_QUITE = N_("Not quite.")


class Unavailable(Exception):
    """The live model cannot answer this question here (the message says why)."""


@dataclass(frozen=True)
class Checkpoint:
    """Predict, then reveal: a question, the answers to pick from, and the live model's."""

    question: str  # a template, formatted with the chapter's facts
    options: Callable[[Experiments], list[str]]  # the answers to pick from
    check: Callable[[Experiments, int], tuple[int, Facts]]  # (the right option, why's values)
    why: str  # a template: what the model did, with its numbers


@dataclass(frozen=True)
class Chapter:
    """One chapter: the picture is `section` of the view `view` (a key of VIEWS)."""

    title: str
    view: str
    section: str
    text: dict[str, str]  # narration templates; the facts' "case" picks one ("main" if none)
    facts: Callable[[Experiments], Facts]
    checkpoint: Checkpoint | None = None
    settings: tuple[tuple[str, object], ...] = ()  # (dotted attribute of the view, value)


def fill(template: str, values: Facts, tr=None) -> str:
    """`template` in the language of `tr` (app/i18n; default English) with `values` in it:
    text values escaped (they may hold the reader's prompt), numbers formatted as the
    template says, as the language writes them."""
    tr = tr or translation()
    return tr(template, **{k: esc(v) if isinstance(v, str) else v for k, v in values.items()})


def narrate(chapter: Chapter, experiments: Experiments) -> tuple[str, Facts]:
    """The chapter's narration as HTML, in the session's language, and the live facts it
    was made from."""
    facts = chapter.facts(experiments)
    template = chapter.text[str(facts.get("case", "main"))]
    return fill(template, facts, experiments.session.tr), facts


def quoted(session, token: int) -> str:
    """A token as the reader sees it in the pictures: its piece, invisible characters made
    visible, in quotes (not yet escaped)."""
    return repr(visible(session.pieces([int(token)])[0]))


def numbers(values, spec: str = "+.3f", tr=None) -> str:
    """A few numbers as '0.123, -0.456' (plain text), as the language of `tr` writes them
    (default English; '0,123; -0,456' in Spanish, whose decimal mark is the comma)."""
    tr = tr or translation()
    return ("; " if tr.number(0.5, ".1f") == "0,5" else ", ").join(
        tr.number(float(v), spec) for v in values)
