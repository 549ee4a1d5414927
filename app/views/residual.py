"""Residual tracks: each token's vector travels through the blocks on its own track, and
every sub-block adds something to it. The logit lens reads the track at every depth."""

from __future__ import annotations

import numpy as np
import panel as pn
import param
from bokeh.models import ColumnDataSource, FixedTicker, HoverTool, LinearColorMapper, Range1d
from bokeh.plotting import figure

from app.i18n import N_
from app.session.lens import LogitLens
from app.views.parts.heatmap import SEQUENTIAL, Heatmap, inks
from app.views.parts.layout import figure_grid
from app.views.parts.markup import (
    esc,
    html_pane,
    set_html,
    table_html,
    token_colour,
    visible,
)
from app.views.parts.picture_or_table import PictureOrTable
from app.views.parts.position_slider import PositionSlider
from app.views.parts.view import View
from engine.lens import depth_names

EXPLAIN = N_(
    "Every token has its own track through the model: a vector of n_embd numbers, the "
    "residual stream. Each attention and MLP sub-block reads the track and adds its result "
    "to it.")
EXPLAIN_MORE = N_(
    "Here is the length (L2 norm) of each token's vector after every sub-block, and "
    "below, how much each sub-block added.")
LENS_EXPLAIN = N_(
    "The model turns its track into a guess for the next token only at the very end: the "
    "final LayerNorm, then a dot product with every token's embedding (the same table "
    "<code>wte</code> that looked the tokens up). The logit lens applies that last step "
    "after every sub-block, as if the model stopped there.")
LENS_EXPLAIN_MORE = N_(
    "Each row is one depth, from the bare embedding down to the model's real output; you see "
    "what the track already “says” and how the final guess forms on the way. (At the bare "
    "embedding the lens mostly reads back the token itself: the same table maps tokens in "
    "and out.)")
TOP = 5
# what each picture shows now, in words (its text alternative)
TRACKS_SAY = N_("Size of each token's track at each depth; token {position} {piece} goes from "
              "{first:.2f} after the embedding to {last:.2f} at the end.")
ADDED_SAY = N_("What each layer adds to the tracks; to token {position} {piece} the most, "
             "{value:.2f}, at {stage}.")
ROW = 30  # pixels per depth


def guesses(pieces: list[str], probs: np.ndarray) -> str:
    """'e' 0.412, 'a' 0.103, ... (plain text: table_html escapes it)."""
    return ", ".join(f"{p!r} {q:.3f}" for p, q in zip(pieces, probs, strict=True))


class ResidualView(View):
    lens = param.ClassSelector(class_=LogitLens, doc="The logit lens; made for the session "
                                                     "if not given.")

    def __init__(self, **params):
        if params.get("lens") is None:
            params["lens"] = LogitLens(session=params["session"])
        params["lens"].active = True  # catch up before the watchers below exist
        super().__init__(**params)
        depths = depth_names(self.session.config.n_layer)
        self.tracks = Heatmap(N_("‖residual stream‖ per token after each sub-block"),
                              N_("token"), N_("after"), diverging=False, height=320)
        self.added = Heatmap(N_("‖what each sub-block added‖"), N_("token"), N_("sub-block"),
                             diverging=False, height=320)
        self.source = ColumnDataSource(dict(xs=[], ys=[], color=[], width=[], token=[]))
        self.lines = figure(height=300, sizing_mode="stretch_width", min_width=200,
                            toolbar_location=None, tools="", title=N_(
                                "Track lengths, one line per token (the chosen token is thick)"),
                            y_axis_label=N_("norm"))
        lines = self.lines.multi_line("xs", "ys", source=self.source, line_color="color",
                                      line_width="width", line_alpha=0.8)
        self.lines.add_tools(HoverTool(renderers=[lines], tooltips=[(N_("token"), "@token")]))
        self.lines.xaxis[0].ticker = FixedTicker(ticks=list(range(len(depths))))

        self.position = PositionSlider(session=self.session, label=N_("Token (position)"),
                                       width=240, active=self.param.active)
        self._lens_caption = html_pane()
        self._lens_table = html_pane()
        self.guess_source = ColumnDataSource(dict(x=[], y=[], prob=[], label=[], token=[],
                                                  text_color=[]))
        self.final_source = ColumnDataSource(dict(y=[], prob=[], rank=[], label=[]))
        self.guesses = self._guess_figure(depths)
        self.final = self._final_figure(depths)
        self.lens_numbers = PictureOrTable(
            figure_grid(pn.pane.Bokeh(self.guesses, sizing_mode="stretch_width"),
                        pn.pane.Bokeh(self.final, sizing_mode="stretch_width"), min_width=300),
            self._lens_table)
        self._layout = self._arrange(
            intro=[self.explain(EXPLAIN, EXPLAIN_MORE)],
            tracks=[figure_grid(self.tracks, self.added, min_width=360),
                    pn.pane.Bokeh(self.lines, sizing_mode="stretch_width")],
            lens_about=[pn.pane.HTML(N_("<h3 style='margin:0.6rem 0 0'>Logit lens</h3>"),
                                     sizing_mode="stretch_width"),
                        self.explain(LENS_EXPLAIN, LENS_EXPLAIN_MORE)],
            lens=[self.lens_numbers, self._lens_caption, self.position])
        self._update()
        self._show_lens()
        self.lens.active = self.param.active  # from now on, decoded only while shown

    def _guess_figure(self, depths: list[str]):
        mapper = LinearColorMapper(palette=SEQUENTIAL, low=0.0, high=1.0)
        fig = figure(height=50 + ROW * len(depths), sizing_mode="stretch_width", min_width=200,
                     toolbar_location=None, tools="", title="",  # titled as drawn
                     x_range=[str(r) for r in range(1, TOP + 1)], y_range=list(reversed(depths)),
                     x_axis_label=N_("rank"))
        cells = fig.rect("x", "y", width=0.96, height=0.9, source=self.guess_source,
                         fill_color={"field": "prob", "transform": mapper}, line_color=None)
        fig.text("x", "y", text="label", source=self.guess_source, text_align="center",
                 text_baseline="middle", text_font_size="9pt", text_color="text_color")
        fig.add_tools(HoverTool(renderers=[cells], tooltips=[
            (N_("token"), "@token"), (N_("probability"), "@prob{0.000}")]))
        fig.grid.visible = False
        return fig

    def _final_figure(self, depths: list[str]):
        fig = figure(height=50 + ROW * len(depths), sizing_mode="stretch_width", min_width=200,
                     toolbar_location=None, tools="", x_range=Range1d(0, 1),
                     y_range=list(reversed(depths)), x_axis_label=N_("probability"),
                     title="")  # titled as drawn
        bars = fig.hbar(y="y", right="prob", height=0.7, source=self.final_source,
                        color="#d9480f")
        fig.text(x="prob", y="y", text="label", source=self.final_source, x_offset=4,
                 text_baseline="middle", text_font_size="9pt")
        fig.add_tools(HoverTool(renderers=[bars], tooltips=[
            (N_("probability"), "@prob{0.000}"), (N_("rank"), "@rank")]))
        fig.ygrid.visible = False
        return fig

    @param.depends("session.trace", "session.query", "session.language", watch=True)
    def _update(self) -> None:
        s = self.session
        trace = s.trace
        labels = s.pieces(s.ids)
        stages = depth_names(s.config.n_layer)
        residual = s.engine.residual  # the engine in use: an edit to residual.py shows here
        norms = residual.track_norms(trace)  # (T, stages)
        q = s.query_position
        added = residual.added_norms(trace)
        most = int(np.argmax(added[q]))
        said = dict(position=q, piece=repr(visible(labels[q])))
        self.tracks.update(norms, labels, stages, summary=s.tr(
            TRACKS_SAY, **said, first=norms[q, 0], last=norms[q, -1]))
        self.added.update(added, labels, stages[1:], summary=s.tr(
            ADDED_SAY, **said, value=added[q, most], stage=stages[1:][most]))
        x = list(range(len(stages)))
        self.source.data = dict(
            xs=[x] * len(labels), ys=list(norms),
            color=["#d9480f" if t == q else token_colour(i) for t, i in enumerate(s.ids)],
            width=[4 if t == q else 1.5 for t in range(len(labels))],
            token=[f"{t}: {visible(p)}" for t, p in enumerate(labels)])
        self.lines.xaxis[0].ticker.ticks = x  # as many depths as the model has blocks
        self.lines.xaxis[0].major_label_overrides = dict(enumerate(stages))

    @param.depends("lens.reading", "session.language", watch=True)
    def _show_lens(self) -> None:
        s, reading, tr = self.session, self.lens.reading, self.session.tr
        depths = depth_names(s.config.n_layer)
        top = reading.top(TOP)  # (depths, TOP)
        probs = np.take_along_axis(reading.probs, top, axis=-1)
        pieces = [[visible(p) for p in s.pieces(row)] for row in top]
        self.guess_source.data = dict(
            x=[str(r) for _ in depths for r in range(1, TOP + 1)],
            y=[d for d in depths for _ in range(TOP)], prob=probs.ravel(),
            token=[p for row in pieces for p in row],
            label=[f"{p} {q:.2f}" for row, qs in zip(pieces, probs, strict=True)
                   for p, q in zip(row, qs, strict=True)],
            text_color=inks(probs.ravel(), SEQUENTIAL, 0.0, 1.0))
        for fig in (self.guesses, self.final):  # as many depths as the model has blocks
            if list(fig.y_range.factors) != depths[::-1]:
                fig.update(height=50 + ROW * len(depths))
                fig.y_range.factors = depths[::-1]
        final_p, ranks = reading.final_probs, reading.final_ranks
        self.final_source.data = dict(y=depths, prob=final_p, rank=ranks,
                                      label=[f"{p:.2f}" for p in final_p])
        final = visible(s.pieces([reading.final])[0])
        self.guesses.title.text = tr("Top {n} guesses at each depth", n=TOP)
        self.final.title.text = tr("p({token}) at each depth: the model's final guess",
                                   token=repr(final))
        set_html(self._lens_caption, self._describe(reading, depths, final))
        rows = [(d, guesses(row, qs), tr.number(fp, ".3f"), rk)
                for d, row, qs, fp, rk in zip(depths, pieces, probs, final_p, ranks, strict=True)]
        set_html(self._lens_table, table_html(
            [tr("depth"), tr("top {n} guesses", n=TOP), f"p({final!r})", tr("its rank")], rows))

    def _describe(self, reading, depths: list[str], final: str) -> str:
        s = self.session
        token = visible(s.pieces([s.ids[reading.position]])[0])
        not_top = np.flatnonzero(reading.final_ranks != 1)
        settled = not_top[-1] + 1 if not_top.size else 0  # top from here to the end
        return "<p>" + s.tr(
            "After token {position} {token} the model guesses {final} (p = {p:.2f}). It is the "
            "top guess from {depth} on; at the embedding it ranks {rank} of {V} "
            "(p = {p0:.3f}).", position=reading.position, token=f"<b>{esc(repr(token))}</b>",
            final=f"<b>{esc(repr(final))}</b>", p=reading.final_probs[-1],
            depth=f"<b>{esc(depths[settled])}</b>", rank=reading.final_ranks[0],
            V=s.config.vocab_size, p0=reading.final_probs[0]) + "</p>"

    def __panel__(self):
        return self._layout
