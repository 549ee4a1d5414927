"""Residual tracks: each token's vector travels through the blocks on its own track, and
every sub-block adds something to it."""

from __future__ import annotations

import numpy as np
import panel as pn
import param
from bokeh.models import ColumnDataSource, FixedTicker, HoverTool
from bokeh.plotting import figure

from app.views.parts.heatmap import Heatmap
from app.views.parts.layout import figure_grid
from app.views.parts.markup import explain, token_colour, visible
from app.views.parts.view import View

EXPLAIN = (
    "Every token has its own track through the model: a vector of n_embd numbers, the "
    "residual stream. Each attention and MLP sub-block reads the track and adds its result "
    "to it. Here is the length (L2 norm) of each token's vector after every sub-block, and "
    "below, how much each sub-block added.")


def stage_names(n_layer: int) -> list[str]:
    return ["embedding"] + [f"{i}.{part}" for i in range(n_layer) for part in ("attn", "mlp")]


class ResidualView(View):

    def __init__(self, **params):
        super().__init__(**params)
        self.tracks = Heatmap("‖residual stream‖ per token after each sub-block", "token",
                              "after", diverging=False, height=320)
        self.added = Heatmap("‖what each sub-block added‖", "token", "sub-block",
                             diverging=False, height=320)
        self.source = ColumnDataSource(dict(xs=[], ys=[], color=[], width=[], token=[]))
        self.lines = figure(height=300, sizing_mode="stretch_width", min_width=200,
                            toolbar_location=None, tools="", title="Track lengths, one line "
                            "per token (the chosen token is thick)", y_axis_label="norm")
        lines = self.lines.multi_line("xs", "ys", source=self.source, line_color="color",
                                      line_width="width", line_alpha=0.8)
        self.lines.add_tools(HoverTool(renderers=[lines], tooltips=[("token", "@token")]))
        self.lines.xaxis[0].ticker = FixedTicker(
            ticks=list(range(len(stage_names(self.session.config.n_layer)))))
        self._layout = pn.Column(
            explain(EXPLAIN),
            figure_grid(self.tracks, self.added, min_width=360),
            pn.pane.Bokeh(self.lines, sizing_mode="stretch_width"),
            sizing_mode="stretch_width")
        self._update()

    @param.depends("session.trace", "session.query", watch=True)
    def _update(self) -> None:
        s = self.session
        trace = s.trace
        labels = s.pieces(s.ids)
        stages = stage_names(s.config.n_layer)
        norms = np.stack([np.linalg.norm(x[0], axis=-1) for x in trace.residual_stream()],
                         axis=1)  # (T, stages)
        self.tracks.update(norms, labels, stages)
        added = np.stack([np.linalg.norm(part[0], axis=-1) for b in trace.blocks
                          for part in (b.attn_out, b.mlp_out)], axis=1)
        self.added.update(added, labels, stages[1:])
        q = s.query_position
        x = list(range(len(stages)))
        self.source.data = dict(
            xs=[x] * len(labels), ys=list(norms),
            color=["#d9480f" if t == q else token_colour(i) for t, i in enumerate(s.ids)],
            width=[4 if t == q else 1.5 for t in range(len(labels))],
            token=[f"{t}: {visible(p)}" for t, p in enumerate(labels)])
        self.lines.xaxis[0].major_label_overrides = dict(enumerate(stages))

    def __panel__(self):
        return self._layout
