"""'Compare with…': a second model beside the first, in the view that shows it.

Parts of a view, not views: the Next token view shows `NextTokenComparison` (both models'
next-token probabilities side by side) and the Attention view `AttentionComparison` (both
models' attention weights for the block and head shown). Each carries the same choice of
model and the same numbers (KL, top-token agreement, held-out losses), all from the
session's Comparison (app/session/comparison.py); they only draw. A part works only while
its view is shown (`active`), and the comparison computes only while one such part is.
"""

from __future__ import annotations

import numpy as np
import panel as pn
import param
from bokeh.core.properties import value
from bokeh.models import ColumnDataSource, FixedTicker, HoverTool
from bokeh.plotting import figure

from app.i18n import N_
from app.session.comparison import TARGETS
from app.session.session import LabSession
from app.views.parts.heatmap import Heatmap
from app.views.parts.layout import figure_grid, wrap_row
from app.views.parts.markup import esc, html_pane, set_html, table_html, visible

TOP = 12  # tokens shown side by side
THIS, OTHER = "#4c6ef5", "#f08c00"
EXPLAIN = N_(
    "Compare with… runs a second model on the same prompt, in the same page: the shipped "
    "weights, this model when its training started, the one learning from zero, this model "
    "quantized as llama.cpp stores it, the shipped code beside your edited engine, or a "
    "model opened from a file. KL(this ‖ other) says, in nats, how surprised the other "
    "model is by what this one expects (0 when they agree exactly).")


def paired_bars(source: ColumnDataSource, top: int, height: int, title: str,
                bars: list[tuple[str, str, str, str]]) -> figure:
    """Two models' probabilities of the same `top` tokens as pairs of horizontal bars, the
    likeliest on top. Each bar is (name, colour, legend, hover label) and reads the columns
    y_<name> and p_<name> of `source`; its column `label` names the token."""
    fig = figure(height=height, sizing_mode="stretch_width", min_width=200, x_range=(0, 1),
                 toolbar_location=None, tools="", title=title, x_axis_label=N_("probability"))
    drawn = [fig.hbar(y=f"y_{name}", right=f"p_{name}", height=0.38, source=source,
                      color=colour, legend_label=legend) for name, colour, legend, _ in bars]
    fig.add_tools(HoverTool(renderers=drawn, tooltips=[(N_("token"), "@label")] + [
        (tip, f"@p_{name}{{0.0000}}") for name, _, _, tip in bars]))
    fig.y_range.flipped = True
    fig.ygrid.visible = False
    fig.legend.location = "bottom_right"
    fig.legend.label_text_font_size = "8pt"
    fig.yaxis.ticker = FixedTicker(ticks=list(range(top)))
    fig.yaxis.major_label_text_font_size = "11pt"
    return fig


class ComparisonPart(pn.viewable.Viewer):
    """The choice of model and the numbers; a subclass adds its picture."""

    session = param.ClassSelector(class_=LabSession, doc="The reader's lab.")
    active = param.Boolean(default=False, allow_refs=True,
                           doc="Draw (and let the comparison compute) only while True.")

    def __init__(self, **params):
        super().__init__(**params)
        comparison = self.session.comparison
        self.choice = pn.widgets.Select.from_param(
            comparison.param.target, label=N_("Compare with…"), width=300,
            options={label: key for key, label in TARGETS.items()})  # marked: translated
        self._numbers = html_pane()
        self._body = pn.Column(sizing_mode="stretch_width")
        self._explain = html_pane()
        self._layout = pn.Column(self._explain, wrap_row(self.choice),
            self._numbers, self._body, sizing_mode="stretch_width")
        self._key = None
        comparison.param.watch(lambda *_: self._refresh(), ["other", "reason", "loss",
                                                           "other_loss"])
        self.session.param.watch(lambda *_: self._refresh(), ["layer", "head"])
        self.session.param.watch(lambda *_: self._translate(), ["language"])
        self._translate()
        self._show()

    def _translate(self) -> None:
        set_html(self._explain, f"<p class='explain'>{esc(self.session.tr(EXPLAIN))}</p>")
        self._key = None  # the numbers and the picture, drawn again in the new language
        self._refresh()

    @param.depends("active", watch=True)
    def _show(self) -> None:
        self.session.comparison.show(self, self.active)
        self._refresh()

    def _refresh(self) -> None:
        """Draw what the comparison holds now (while shown, and once per change)."""
        if not self.active:
            return
        c, s = self.session.comparison, self.session
        key = (c.target, c.other, c.reason, c.loss, c.other_loss, s.layer, s.head)
        if key == self._key:
            return
        self._key = key
        if c.target == "none" or c.other is None:
            set_html(self._numbers, f"<div class='note'>{esc(s.tr(c.reason))}</div>"
                     if c.reason else "")
            self._body.visible = False
            return
        set_html(self._numbers, numbers_html(c, len(s.ids), s.tr))
        self._body.visible = True
        self._draw()

    def _draw(self) -> None:
        raise NotImplementedError

    def __panel__(self):
        return self._layout


def numbers_html(c, positions: int, tr) -> str:
    """How far apart the two models are, as a table, in the language of `tr`."""
    agree = round(c.agreement * positions)
    label = tr(c.label)
    rows = [(tr("KL(this ‖ other), next token"), tr("{kl:.4g} nats", kl=c.kl)),
            (tr("KL, mean over the prompt's {n} positions", n=positions),
             tr("{kl:.4g} nats", kl=c.kl_mean)),
            (tr("largest change of one token's probability"), tr.number(c.largest, ".4f")),
            (tr("same likeliest next token"), tr("{agree} of {n} positions ({share:.0%})",
                                                 agree=agree, n=positions, share=c.agreement))]
    if c.loss is not None:
        rows += [(tr("loss on held-out text ({n} windows): this model", n=c.eval_windows),
                  tr.number(c.loss, ".4f")),
                 (tr("the same for {label}", label=label),
                  tr("{loss:.4f} ({change:+.4f})", loss=c.other_loss,
                     change=c.other_loss - c.loss))]
    else:
        rows.append((tr("loss on held-out text"), tr("no held-out text for this model")))
    return ("<p>" + tr("This model beside {label}, on the same prompt:",
                       label=f"<b>{esc(label)}</b>") + "</p>" + table_html(["", ""], rows))


class NextTokenComparison(ComparisonPart):
    """Both models' next-token probabilities (temperature 1), bar beside bar."""

    def __init__(self, **params):
        self.source = ColumnDataSource(dict(y_this=[], y_other=[], p_this=[], p_other=[],
                                            label=[]))
        self.figure = paired_bars(
            self.source, TOP, 320, N_("Next-token probabilities of both models (temperature 1)"),
            [("this", THIS, N_("this model"), N_("this model")),
             ("other", OTHER, "compared", N_("compared"))])  # the other's name as drawn
        super().__init__(**params)
        self._body.objects = [pn.pane.Bokeh(self.figure, sizing_mode="stretch_width")]

    def _draw(self) -> None:
        s, c = self.session, self.session.comparison
        p = s.trace.probs[0, -1].astype(np.float64)
        q = c.other.probs[0, -1].astype(np.float64)
        order = np.argsort(-np.maximum(p, q), kind="stable")[:TOP]
        labels = [visible(piece) for piece in s.pieces(order)]
        y = np.arange(len(order))
        self.source.data = dict(
            y_this=y - 0.2, y_other=y + 0.2, p_this=p[order], p_other=q[order],
            label=[s.tr("{piece} (id {id})", piece=repr(piece), id=i)
                   for piece, i in zip(labels, order, strict=True)])
        self.figure.yaxis.major_label_overrides = dict(enumerate(labels))
        self.figure.x_range.end = float(max(p.max(), q.max(), 0.05)) * 1.05
        self.figure.legend.items[0].label = value(s.tr("this model"))
        self.figure.legend.items[1].label = value(s.tr(c.label))


class AttentionComparison(ComparisonPart):
    """Both models' attention weights for the block and head shown."""

    def __init__(self, **params):
        self.mine = Heatmap(N_("this model: attention weights"), N_("query"), N_("key"),
                            diverging=False, height=260)
        self.theirs = Heatmap("", N_("query"), N_("key"), diverging=False,
                              height=260)  # titled as drawn
        self._caption = html_pane()
        super().__init__(**params)
        self._body.objects = [self._caption, figure_grid(self.mine, self.theirs)]

    def _draw(self) -> None:
        s, c = self.session, self.session.comparison
        layer, head = s.layer, s.head
        labels = s.pieces(s.ids)
        self.mine.update(s.trace.blocks[layer].att[0, head], labels, labels, low=0.0, high=1.0)
        other = c.other
        if layer >= len(other.blocks) or head >= other.blocks[layer].att.shape[1]:
            n_layer, n_head = len(other.blocks), other.blocks[0].att.shape[1]
            set_html(self._caption, "<div class='note'>" + esc(s.tr(
                "{label} has {n_layer} blocks of {n_head} heads: it has no block {layer}, "
                "head {head}.", label=s.tr(c.label).capitalize(), n_layer=n_layer,
                n_head=n_head, layer=layer, head=head)) + "</div>")
            self.theirs.update(np.full((len(labels), len(labels)), np.nan), labels, labels)
            return
        att = other.blocks[layer].att[0, head]
        self.theirs.update(att, labels, labels, low=0.0, high=1.0)
        self.theirs.figure.title.text = s.tr("{label}: attention weights", label=s.tr(c.label))
        heads = "" if c.same_shape else s.tr(" (its heads all on: the shapes differ)")
        moved = float(np.abs(att - s.trace.blocks[layer].att[0, head]).max())
        set_html(self._caption, "<p>" + esc(s.tr(
            "Block {layer}, head {head} in both models{heads}: no attention weight differs by "
            "more than {moved:.3f}.", layer=layer, head=head, heads=heads, moved=moved))
                 + "</p>")
