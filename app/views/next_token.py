"""Next token: the model's probabilities for what comes next, and how sampling picks one."""

from __future__ import annotations

import numpy as np
import panel as pn
import param
from bokeh.models import ColumnDataSource, FixedTicker, HoverTool
from bokeh.plotting import figure

from app.i18n import N_
from app.views.parts.comparison import NextTokenComparison
from app.views.parts.layout import ROOMY_SPINNER, wrap_row
from app.views.parts.markup import esc, html_pane, picture, set_html, visible
from app.views.parts.view import View

TOP = 15  # bars shown
EXPLAIN = N_(
    "The last position's logits become probabilities with a softmax. Temperature divides the "
    "logits first (0 always takes the likeliest token; higher evens the odds).")
EXPLAIN_MORE = N_(
    "Top-k keeps the k likeliest and top-p the likeliest whose total reaches p. Grey outlines "
    "show the model's own probabilities at temperature 1. Generate draws a token with the "
    "seed and appends it; every view follows.")


class NextTokenView(View):

    def __init__(self, **params):
        super().__init__(**params)
        s = self.session
        self.source = ColumnDataSource(dict(y=[], prob=[], raw=[], base=[], label=[],
                                            color=[], kept=[]))
        self.figure = figure(height=360, sizing_mode="stretch_width", min_width=200,
                             x_range=(0, 1), toolbar_location=None, tools="",
                             title=N_("Next-token probabilities"),
                             x_axis_label=N_("probability"))
        self.figure.hbar(y="y", right="raw", height=0.8, source=self.source, fill_alpha=0,
                         line_color="#868e96", line_dash="dashed", legend_label=N_("temperature 1"))
        bars = self.figure.hbar(y="y", right="prob", height=0.6, source=self.source,
                                fill_color="color", line_color=None, legend_label=N_("sampling"))
        self.figure.scatter(x="base", y="y", source=self.source, marker="diamond", size=9,
                            color="#1c7ed6", legend_label=N_("all heads on"))
        self.figure.add_tools(HoverTool(renderers=[bars], tooltips=[
            (N_("token"), "@label"), (N_("sampling p"), "@prob{0.0000}"),
            (N_("model p"), "@raw{0.0000}"), (N_("kept by top-k/top-p"), "@kept")]))
        self.figure.y_range.flipped = True
        self.figure.ygrid.visible = False
        self.figure.legend.location = "bottom_right"
        self.figure.legend.label_text_font_size = "8pt"
        self.y_axis = self.figure.yaxis[0]
        self.y_axis.update(ticker=FixedTicker(ticks=list(range(TOP))),
                           major_label_text_font_size="11pt")

        controls = wrap_row(
            pn.widgets.FloatSlider.from_param(s.param.temperature, label=N_("Temperature"),
                                              width=200),
            pn.widgets.IntSlider.from_param(s.param.top_k, label=N_("Top-k (0 = off)"), width=200),
            pn.widgets.FloatSlider.from_param(s.param.top_p, label=N_("Top-p"), width=200),
            pn.widgets.IntInput.from_param(s.param.seed, label=N_("Seed"), width=120,
                                           stylesheets=[ROOMY_SPINNER]),
        )
        self.generate = pn.widgets.Button(label=N_("Generate next token"), color="primary",
                                          description=N_("Sample a token and append it"),
                                          stylesheets=[".bk-btn { min-height: 44px; }"])
        self.generate.on_click(lambda _: self.session.generate_token())
        self._summary = html_pane()
        self._text = html_pane()
        self.compare = NextTokenComparison(session=s, active=self.param.active)
        self._layout = self._arrange(
            intro=[self.explain(EXPLAIN, EXPLAIN_MORE)],
            probabilities=[self._summary, pn.pane.Bokeh(self.figure, sizing_mode="stretch_width"),
                           controls],
            generate=[self.generate, self._text], compare=[self.compare])
        self._update()
        self._show_text()

    @param.depends("session.next_probs", "session.baseline_probs", "session.language",
                   watch=True)
    def _update(self) -> None:
        s = self.session
        probs = s.next_probs
        raw = s.trace.probs[0, -1].astype(np.float64)
        order = np.argsort(-np.maximum(probs, raw), kind="stable")[:TOP]
        base = s.baseline_probs
        sampled = s.sampled.token if s.sampled is not None else -1
        labels = [visible(p) for p in s.pieces(order)]
        self.source.data = dict(
            y=list(range(len(order))), prob=probs[order], raw=raw[order],
            base=(base[order] if base is not None else np.full(len(order), np.nan)),
            label=[s.tr("{piece} (id {id})", piece=repr(lab), id=i)
                   for lab, i in zip(labels, order, strict=True)],
            color=["#d9480f" if i == sampled else "#4c6ef5" if probs[i] > 0 else "#ced4da"
                   for i in order],
            kept=[s.tr("yes") if probs[i] > 0 else s.tr("no") for i in order])
        self.y_axis.major_label_overrides = dict(enumerate(labels))
        self.figure.x_range.end = float(max(probs.max(), raw.max(), 0.05)) * 1.05
        top = int(np.argmax(probs))
        kept = int(np.count_nonzero(probs))
        likeliest = esc(repr(visible(s.pieces([top])[0])))
        set_html(self._summary, "<p>" + s.tr(
            "Likeliest next token: {piece} with p = {p:.3f}; sampling keeps {kept} of {V} "
            "tokens.", piece=f"<span class='big'>{likeliest}</span>", p=probs[top], kept=kept,
            V=len(probs)) + "</p>")

    @param.depends("session.prompt", "session.sampled", "session.language", watch=True)
    def _show_text(self) -> None:
        s = self.session
        text = s.prompt[-600:]
        new = s.sampled.piece if s.sampled is not None and text.endswith(s.sampled.piece) else ""
        body = esc(text[:len(text) - len(new)]) + (f'<span class="new">{esc(new)}</span>'
                                                    if new else "")
        drawn = ("<p>" + esc(s.tr("Sampled {piece} (p = {p:.3f}).",
                                  piece=repr(visible(s.sampled.piece)), p=s.sampled.prob))
                 + "</p>" if new else "")
        set_html(self._text, drawn + picture(f'<div class="generated" aria-live="polite">'
                                             f"{body}</div>"))

    def __panel__(self):
        return self._layout
