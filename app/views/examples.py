"""Training examples: a window slides over the text; every position in it is a lesson
"after this context comes that token"."""

from __future__ import annotations

import panel as pn
import param

from app.i18n import N_
from app.views.parts.markup import (
    esc,
    html_pane,
    picture,
    set_html,
    table_html,
    visible,
)
from app.views.parts.view import View

EXPLAIN = N_(
    "Training needs no labels: the text is its own answer key. A window of block_size "
    "tokens starting at i gives the inputs x = text[i : i+T] and the targets "
    "y = text[i+1 : i+T+1].")
EXPLAIN_MORE = N_(
    "So one window holds T examples: after the first token comes the second, after the first "
    "two the third, and so on. Play slides the window; while the model trains, these are the "
    "windows of the batch it is learning from.")
MARGIN = 24  # characters of text shown either side of the window


class ExamplesView(View):
    source = param.Selector(default="slide", objects=["slide", "batch"])
    row = param.Integer(default=0, bounds=(0, None))

    def __init__(self, **params):
        super().__init__(**params)
        s = self.session
        self.start_slider = pn.widgets.IntSlider.from_param(
            s.param.example_start, label=N_("Window starts at"), width=300)
        self.pick = pn.widgets.RadioButtonGroup.from_param(
            self.param.source, options={N_("Sliding window"): "slide",
                                        N_("Current training batch"): "batch"},
            color="light", label="")
        self.row_slider = pn.widgets.IntSlider.from_param(self.param.row, label=N_("Batch window"),
                                                          width=200)
        self._slider = pn.Row(self.start_slider)  # holds the slider for the chosen source
        self._window = html_pane()
        self._table = html_pane()
        self._layout = self._arrange(intro=[self.explain(EXPLAIN, EXPLAIN_MORE)],
                                     window=[self._window, self.pick, self._slider],
                                     table=[self._table])
        self._update()

    @param.depends("session.training.train_step", watch=True)
    def _follow_training(self) -> None:
        step = self.session.training.train_step
        if step is not None:
            self.param.row.bounds = (0, len(step.batch.starts) - 1)
            self.row = min(self.row, len(step.batch.starts) - 1)
            self.source = "batch"

    @param.depends("session.example_start", "session.clock.frame",
                   "session.training.train_step", "source", "row", "session.weights_version",
                   "session.language", watch=True)
    def _update(self) -> None:
        s, tr = self.session, self.session.tr
        T = s.config.block_size
        tokens = s.train_tokens
        step = s.training.train_step
        batch = step.batch if step is not None else None
        use_batch = self.source == "batch" and batch is not None
        slider = self.row_slider if use_batch else self.start_slider
        if self._slider.objects != [slider]:
            self._slider.objects = [slider]
        if len(tokens) < T + 2:
            set_html(self._window, "<div class='note'>" + esc(tr(
                "There is no training text yet: paste your own in the Training view.")) + "</div>")
            set_html(self._table, "")
            return
        start = int(batch.starts[self.row]) if use_batch else min(s.example_start,
                                                                  len(tokens) - T - 1)
        t = s.clock.frame if s.mode == "examples" else T - 1
        t = min(t, T - 1)
        pieces = s.pieces(tokens[max(0, start - MARGIN):start + T + 1 + MARGIN])
        offset = start - max(0, start - MARGIN)
        spans = []
        for k, piece in enumerate(pieces):
            pos = k - offset  # position relative to the window start
            cls = ("dim" if pos < 0 or pos > T else "now" if pos == t else
                   "tgt" if pos == t + 1 else "ctx" if pos < t else "")
            spans.append(f'<span class="{cls}">{esc(piece)}</span>')
        where = (tr("window {row} of the batch of step {step}, at {start:,}", row=self.row,
                    step=step.step, start=start) if use_batch else
                 tr("the window at {start:,} of {n:,} tokens", start=start, n=len(tokens)))
        x = tokens[start:start + T]
        y = tokens[start + 1:start + T + 1]
        ids = (f"<p>x = [{', '.join(map(str, x[:10]))}, …]<br>"
               f"y = [{', '.join(map(str, y[:10]))}, …] " + esc(tr("(x shifted by one)")) + "</p>")
        context, target = esc(tr("context")), esc(tr("target"))
        context = f"<span class='window'><span class='ctx'>{context}</span></span>"
        target = f"<span class='window'><span class='tgt'>{target}</span></span>"
        corpus = s.corpus_name or tr("the text")
        set_html(self._window,
                 "<p>" + tr("Showing {where} of {text}: {context} and {target} of example {t} "
                            "of {T}.", where=esc(where), text=esc(corpus),
                            context=context, target=target, t=t + 1, T=T) + "</p>"
                 + picture(f"<div class='window'>{''.join(spans)}</div>") + ids)
        rows, marks = [], []
        for k in range(max(0, t - 5), min(T, t + 6)):
            context = visible("".join(s.pieces(x[max(0, k - 23):k + 1])))
            rows.append((k + 1, ("…" if k > 23 else "") + context, "→",
                         visible(s.pieces([y[k]])[0])))
            marks.append("now" if k == t else "")
        header = ["#", tr("context"), "", tr("next")]
        set_html(self._table, "<div style='overflow-x:auto'>" + table_html(
            header, rows, classes="examples", row_classes=marks) + "</div>")

    def __panel__(self):
        return self._layout
