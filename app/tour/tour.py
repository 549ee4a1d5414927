"""The tour around a view: the way on, where the reader is and the chapter's narration above
the picture, the chapter's question below it.

The page (app/lab) shows the chapter's view with its section brought forward, between this
viewer's `header` and `footer`; the footer's "More of this view" shows the view's other
sections too (`more`). The narration follows the session: edit the prompt, or train
a step, and its numbers change; an answer already given is checked again.
"""

from __future__ import annotations

import panel as pn
import param

from app.i18n import N_
from app.session.experiments import Experiments
from app.session.session import LabSession
from app.tour import CHAPTERS
from app.tour.chapter import NOT_QUITE, RIGHT, Chapter, Unavailable, fill, narrate
from app.tour.choice import Choice
from app.views.parts.layout import wrap_row
from app.views.parts.markup import esc, html_pane, set_html

PROGRESS = N_("Chapter {n} of {total}")
PROGRESS_LABEL = N_("tour progress")
BACK, NEXT, LEAVE = N_("‹ Back"), N_("Next ›"), N_("Leave the tour")
MORE = N_("More of this view")
PREDICT = N_("Predict first, then see what the model does.")
KEYS = N_("The ← and → keys turn the pages.")
TAP = ".bk-btn { min-height: 44px; font-size: 1rem; }"  # a finger's size


class Tour(pn.viewable.Viewer):
    """Chapter `chapter` of CHAPTERS (0: not touring), narrated from the session."""

    session = param.ClassSelector(class_=LabSession, doc="The reader's lab.")
    chapter = param.Integer(default=0, bounds=(0, len(CHAPTERS)),
                            doc="The chapter shown, from 1; 0 when the reader is not touring.")
    pick = param.Integer(default=-1, doc="The reader's answer to the chapter's question.")
    more = param.Boolean(default=False, doc="Whether the chapter's view shows all of itself.")
    facts = param.Dict(default={}, precedence=-1,
                       doc="The live values the chapter's narration was made from.")
    correct = param.Boolean(default=None, allow_None=True, precedence=-1,
                            doc="Whether the answer picked is the model's (None: no answer).")

    def __init__(self, **params):
        super().__init__(**params)
        self.experiments = Experiments(session=self.session)
        self._progress = html_pane(width=130, sizing_mode=None, margin=(0, 5))
        self._title = html_pane()
        self._narration = html_pane()
        self._question = html_pane()
        self._verdict = html_pane()
        self.choice = Choice(sizing_mode="stretch_width")
        self.choice.param.watch(lambda event: self.answer(event.new), "value")
        self.back = pn.widgets.Button(label=BACK, width=80, margin=(5, 5), stylesheets=[TAP])
        self.back.on_click(lambda _: self.turn(-1))
        self.next = pn.widgets.Button(label=NEXT, width=80, margin=(5, 5), color="primary",
                                      stylesheets=[TAP])
        self.next.on_click(lambda _: self.turn(1))
        self.leave = pn.widgets.Button(label=LEAVE, width=150, color="light", stylesheets=[TAP])
        self.leave.on_click(lambda _: self.go(0))
        self._checkpoint = pn.Column(self._question, self.choice, self._verdict,
                                     sizing_mode="stretch_width",
                                     styles={"border-top": "1px solid #dee2e6"})
        # the way on stays in one place from chapter to chapter; the question goes with
        # the picture, into the chapter's view (see app/lab/page.py)
        self.header = pn.Column(wrap_row(self.back, self._progress, self.next,
                                         align_items="center"),
                                self._title, self._narration, sizing_mode="stretch_width")
        self._more = pn.widgets.Toggle.from_param(self.param.more, label=MORE, width=190,
                                                  stylesheets=[TAP])
        self._keys = html_pane()
        self.footer = pn.Column(self._checkpoint, wrap_row(self._more, self.leave), self._keys,
                                sizing_mode="stretch_width")
        self._draw()

    @property
    def shown(self) -> Chapter | None:
        return CHAPTERS[self.chapter - 1] if self.chapter else None

    # ---- the reader's moves ----------------------------------------------------------------

    def go(self, chapter: int) -> None:
        """Show `chapter` (0: leave the tour); the page changes in one step, the narration
        and the picture together."""
        with pn.io.hold():
            self.chapter = chapter

    def turn(self, by: int) -> None:
        """Go `by` chapters on (or back), staying within the tour."""
        if self.chapter:
            self.go(min(max(1, self.chapter + by), len(CHAPTERS)))

    def answer(self, option: int) -> None:
        """The reader picks `option` (an index of the question's options)."""
        self.pick = option

    # ---- drawing -------------------------------------------------------------------------------

    @param.depends("chapter", watch=True)
    def _new_chapter(self) -> None:
        self.choice.param.update(value=-1, options=[], marks=[])
        self.param.update(pick=-1, more=False)
        self._draw()

    @param.depends("session.trace", "session.next_probs", "session.language",
                   "session.weights_version",
                   "session.query", "session.layer", "session.head", "session.example_start",
                   "session.sampled", "session.training.train_step",
                   "session.training.history_version", "session.training.from_zero",
                   watch=True)
    def _follow(self) -> None:
        if self.chapter:
            self._draw()

    def _draw(self) -> None:
        tr = self.session.tr
        for button, label in ((self.back, BACK), (self.next, NEXT), (self.leave, LEAVE)):
            button.label = tr(label)
        self._more.name = tr(MORE)
        set_html(self._keys, f"<p class='explain'>{esc(tr(KEYS))}</p>")
        chapter = self.shown
        if chapter is None:
            return
        n, total = self.chapter, len(CHAPTERS)
        text, self.facts = narrate(chapter, self.experiments)
        set_html(self._progress,
                 f"<p class='tour-count'>{esc(tr(PROGRESS, n=n, total=total))}</p>"
                 f"<div class='tour-progress' role='progressbar' aria-valuemin='1' "
                 f"aria-valuemax='{total}' aria-valuenow='{n}' "
                 f"aria-label='{esc(tr(PROGRESS_LABEL))}'>"
                 f"<span style='width:{100 * n / total:.1f}%'></span></div>")
        set_html(self._title, f"<h2 class='tour-title'>{esc(tr(chapter.title))}</h2>")
        set_html(self._narration, f"<p class='narration'>{text}</p>")
        self.back.disabled = n == 1
        self.next.disabled = n == total
        checkpoint = chapter.checkpoint
        self._checkpoint.visible = checkpoint is not None
        if checkpoint is not None:
            options = [tr(option) for option in checkpoint.options(self.experiments)]
            if options != self.choice.options:  # new options: an old answer means nothing
                self.choice.param.update(options=options, value=-1, marks=[])
                self.pick = -1
            set_html(self._question, f"<p class='explain'>{esc(tr(PREDICT))}</p>"
                     f"<p class='question'>{fill(checkpoint.question, self.facts, tr)}</p>")
        self._show_verdict()

    @param.depends("pick", watch=True)
    def _show_verdict(self) -> None:
        """The live model's answer to the question, once the reader has given theirs."""
        chapter = self.shown
        if chapter is None or chapter.checkpoint is None or self.pick < 0:
            set_html(self._verdict, "")
            self.param.update(correct=None)
            self.choice.marks = []
            return
        checkpoint = chapter.checkpoint
        try:
            right, values = checkpoint.check(self.experiments, self.pick)
        except Unavailable as e:
            set_html(self._verdict, f"<div class='note'>{esc(e)}</div>")
            self.correct = None
            return
        correct = right == self.pick
        self.choice.marks = ["right" if i == right else "wrong" if i == self.pick else ""
                             for i in range(len(self.choice.options))]
        if self.choice.value != self.pick:
            self.choice.value = self.pick
        set_html(self._verdict,
                 f"<div class='note {'ok' if correct else 'error'}' aria-live='polite'>"
                 f"<b>{esc(self.session.tr(RIGHT if correct else NOT_QUITE))}</b> "
                 f"{fill(checkpoint.why, values, self.session.tr)}</div>")
        self.correct = correct

    def __panel__(self):
        return pn.Column(self.header, self.footer, sizing_mode="stretch_width")
