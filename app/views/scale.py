"""Scale: our napkin model beside GPT-2 small and GPT-3, counted from their configs."""

from __future__ import annotations

import panel as pn
import param
from bokeh.models import ColumnDataSource, HoverTool
from bokeh.plotting import figure

from app.views.parts.markup import explain, html_pane, set_html
from app.views.parts.view import View

EXPLAIN = (
    "The same architecture, scaled. Parameters are every number in the weights; FLOPs per "
    "token count the multiply-adds (as 2 each) a forward pass spends on one token at full "
    "context, and training costs about three times that. GPT-3's 96 blocks of width 12,288 "
    "hold about a million times more weights than ours.")


def human(n: float) -> str:
    for unit, size in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.3g}{unit}"
    return f"{n:.0f}"


class ScaleView(View):

    def __init__(self, **params):
        super().__init__(**params)
        self.source = ColumnDataSource(dict(name=[], params=[], flops=[], label=[]))
        self.figure = figure(height=260, sizing_mode="stretch_width", min_width=200,
                             x_range=["Napkin GPT", "GPT-2 small", "GPT-3 175B"],
                             y_axis_type="log", toolbar_location=None, tools="",
                             title="Parameters (log scale: each gridline is 10x)")
        bars = self.figure.vbar(x="name", top="params", bottom=1, width=0.6, source=self.source,
                                color="#4c6ef5")
        self.figure.add_tools(HoverTool(renderers=[bars], tooltips=[("model", "@name"),
                                                                     ("parameters", "@label")]))
        self._table = html_pane()
        self._layout = pn.Column(explain(EXPLAIN), self._table,
                                 pn.pane.Bokeh(self.figure, sizing_mode="stretch_width"),
                                 sizing_mode="stretch_width")
        self._update()

    @param.depends("session.weights_version", watch=True)
    def _update(self) -> None:
        scale = self.session.engine.scale  # the engine in use: an edit to scale.py shows here
        models = [scale.scale_of("Napkin GPT", self.session.config),
                  scale.scale_of("GPT-2 small", scale.GPT2_SMALL),
                  scale.scale_of("GPT-3 175B", scale.GPT3_175B)]
        ours = models[0]
        self.source.data = dict(name=[m.name for m in models], params=[m.params for m in models],
                                flops=[m.flops_per_token for m in models],
                                label=[f"{m.params:,}" for m in models])
        rows = [("blocks (n_layer)", lambda m: f"{m.config.n_layer}"),
                ("width (n_embd)", lambda m: f"{m.config.n_embd:,}"),
                ("heads", lambda m: f"{m.config.n_head}"),
                ("context (tokens)", lambda m: f"{m.config.block_size:,}"),
                ("vocabulary", lambda m: f"{m.config.vocab_size:,}"),
                ("parameters", lambda m: f"{m.params:,}"),
                ("× ours", lambda m: f"{m.params / ours.params:,.0f}×"),
                ("forward FLOPs / token", lambda m: human(m.flops_per_token)),
                ("training FLOPs / token", lambda m: human(m.train_flops_per_token))]
        head = "".join(f"<th>{m.name}</th>" for m in models)
        body = "".join(f"<tr><td>{name}</td>" + "".join(f"<td>{f(m)}</td>" for m in models)
                       + "</tr>" for name, f in rows)
        set_html(self._table, f"<table class='data'><tr><th></th>{head}</tr>{body}</table>")

    def __panel__(self):
        return self._layout
