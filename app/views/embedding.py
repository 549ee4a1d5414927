"""Embedding lookup: a token id picks a row of `wte`, its position a row of `wpe`; the sum
of the two rows is the vector that enters the first block."""

from __future__ import annotations

import numpy as np
import panel as pn
import param
from bokeh.models import ColumnDataSource, HoverTool, Range1d
from bokeh.plotting import figure

from app.i18n import N_
from app.views.parts.heatmap import Heatmap
from app.views.parts.layout import figure_grid
from app.views.parts.markup import esc, html_pane, set_html, visible
from app.views.parts.position_slider import PositionSlider
from app.views.parts.view import View

# what each picture shows now, in words (its text alternative)
WTE_SAY = N_("wte: {rows} rows of {dims} numbers, one per token id; row {id} ({piece}), token "
             "{position}, is lit.")
WPE_SAY = N_("wpe: {rows} rows of {dims} numbers, one per position; rows 0 to {last} are in "
             "use, row {position} lit.")
SUM_SAY = N_("Token {position} goes in as wte[{id}] + wpe[{position}]: {dims} numbers from "
             "{low:+.2f} to {high:+.2f}.")
EXPLAIN = N_(
    "The token embedding wte has one row per token in the vocabulary and the position "
    "embedding wpe one row per position. Looking a token up is just picking its row.")
EXPLAIN_MORE = N_(
    "The lit rows below are the prompt's tokens and positions. Their sum is what the first "
    "block reads. The map flattens every token's row to two dimensions (its two principal "
    "components): tokens the model treats alike sit together, and the map moves as it trains.")


class EmbeddingView(View):

    def __init__(self, **params):
        super().__init__(**params)
        s = self.session
        dimension = N_("dimension")
        self.wte = Heatmap(N_("wte: one row per token id"), N_("token"), dimension, height=420)
        self.wpe = Heatmap(N_("wpe: one row per position"), N_("position"), dimension,
                           height=420)
        self.sum = Heatmap(N_("the chosen token: wte row + wpe row = input"), N_("vector"),
                           dimension, height=170)
        self.position = PositionSlider(session=s, label=N_("Token"), active=self.param.active)
        self._caption = html_pane()
        self._axes = None
        self.map_source = ColumnDataSource(dict(x=[], y=[], text=[], color=[], size=[]))
        self.map = figure(height=360, sizing_mode="stretch_width", min_width=200,
                          x_range=Range1d(-1, 1), y_range=Range1d(-1, 1),
                          title=N_("Every token's embedding, flattened to 2-D (PCA)"),
                          tools="pan,wheel_zoom,reset", toolbar_location="right",
                          x_axis_label=N_("component 1"), y_axis_label=N_("component 2"))
        self.map.text("x", "y", text="text", source=self.map_source, text_color="color",
                      text_font_size="size", text_align="center", text_baseline="middle")
        dots = self.map.scatter("x", "y", source=self.map_source, size=4, alpha=0.3,
                                color="color")
        self.map.add_tools(HoverTool(renderers=[dots], tooltips=[(N_("token"), "@text")]))
        self._layout = self._arrange(
            intro=[self.explain(EXPLAIN, EXPLAIN_MORE)],
            lookup=[self.sum, self._caption, self.position],
            tables=[figure_grid(self.wte, self.wpe, min_width=360)],
            map=[pn.pane.Bokeh(self.map, sizing_mode="stretch_width")])
        self._update()
        self._update_map()

    @param.depends("session.trace", "session.query", "session.weights_version",
                   "session.language", watch=True)
    def _update(self) -> None:
        s = self.session
        p = s.model.params
        ids = s.ids
        T, q = len(ids), s.query_position
        vocab = s.pieces(range(s.config.vocab_size))
        dims = [str(i) for i in range(s.config.n_embd)]
        lit_rows = np.full((s.config.vocab_size, 1), 0.12)
        lit_rows[ids] = 0.6
        lit_rows[ids[q]] = 1.0
        piece = visible(s.pieces([ids[q]])[0])
        self.wte.update(p["wte"], vocab, dims, alpha=lit_rows, summary=s.tr(WTE_SAY,
            rows=len(vocab), dims=len(dims), id=ids[q], piece=repr(piece), position=q))
        lit_pos = np.full((s.config.block_size, 1), 0.12)
        lit_pos[:T] = 0.6
        lit_pos[q] = 1.0
        self.wpe.update(p["wpe"], [str(i) for i in range(s.config.block_size)], dims,
                        alpha=lit_pos, summary=s.tr(WPE_SAY,
                            rows=s.config.block_size, dims=len(dims), last=T - 1, position=q))
        trace = s.trace
        stack = np.stack([trace.tok_emb[0, q], trace.pos_emb[q], trace.emb[0, q]])
        piece = visible(s.pieces([ids[q]])[0])
        self.sum.update(stack, [f"wte[{ids[q]}] ({piece})", f"wpe[{q}]", s.tr("sum")], dims,
                        summary=s.tr(SUM_SAY, position=q, id=ids[q], dims=len(dims),
                                     low=stack[2].min(), high=stack[2].max()))
        set_html(self._caption, "<p>" + esc(s.tr(
            "Token {q} is {piece}, id {id}: row {id} of wte plus row {q} of wpe.", q=q,
            piece=repr(piece), id=ids[q])) + "</p>")

    @param.depends("session.weights_version", "session.ids", watch=True)
    def _update_map(self) -> None:
        s = self.session
        wte = s.model.params["wte"]
        pca = s.engine.pca  # the engine in use: an edit to pca.py shows here
        fits = self._axes is not None and self._axes.shape[0] == wte.shape[1]
        self._axes = pca.principal_plane(wte, self._axes if fits else None)
        xy = pca.project(wte, self._axes)
        in_prompt = set(s.ids)
        # frame the bulk of the vocabulary: rare tokens (digits, brackets) barely trained
        # and sit far out; the wheel zooms out to them
        (x0, x1), (y0, y1) = pca.framing(xy)
        self.map.x_range.update(start=x0, end=x1)
        self.map.y_range.update(start=y0, end=y1)
        self.map_source.data = dict(
            x=xy[:, 0], y=xy[:, 1], text=[visible(p) for p in s.pieces(range(len(wte)))],
            color=["#d9480f" if i in in_prompt else "#495057" for i in range(len(wte))],
            size=["13pt" if i in in_prompt else "10pt" for i in range(len(wte))])

    def __panel__(self):
        return self._layout
