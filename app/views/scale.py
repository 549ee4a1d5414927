"""Scale: our napkin model beside GPT-2 small and GPT-3, counted from their configs, and
what generating one more token costs with a KV cache or with a recurrent state."""

from __future__ import annotations

import numpy as np
import panel as pn
import param
from bokeh.core.properties import value
from bokeh.models import ColumnDataSource, HoverTool, Label, Span
from bokeh.plotting import figure

from app.i18n import N_
from app.views.parts.layout import figure_grid
from app.views.parts.markup import esc, html_pane, set_html, table_html
from app.views.parts.picture_or_table import PictureOrTable
from app.views.parts.view import View
from engine.model import GPTConfig

EXPLAIN = N_(
    "The same architecture, scaled. Parameters are every number in the weights; FLOPs per "
    "token count the multiply-adds (as 2 each) a forward pass spends on one token at full "
    "context.")
EXPLAIN_MORE = N_(
    "Training costs about three times that. GPT-3's 96 blocks of width 12,288 hold about a "
    "million times more weights than ours.")
RECURRENT_EXPLAIN = N_(
    "To write token t, a transformer keeps the key and value of every earlier token in "
    "every block (its KV cache) and attends over all of them, so memory and work grow "
    "with the context. Recurrent models such as RWKV and RetNet fold the past into a state "
    "of fixed size instead: here, as in RetNet, one head-size × head-size matrix per block "
    "and head, updated and read once per token. Both pay the same weight matrices per "
    "token; only looking back differs. <b>The trade:</b> the KV cache lets every token look "
    "back at any earlier one exactly, at a cost that grows with every token; the recurrent "
    "state costs the same at any length, but what it folded away cannot be looked up "
    "again. Past a model's context window (the grey lines) the curves show the same model "
    "as if its window were longer.")
# config (None: the session's), bytes per number (ours as the lab runs it, float32; GPT-3 as
# it is served, 16-bit) and colour
MODELS = {"Napkin GPT": (None, 4, "#4c6ef5"), "GPT-3 175B": ("GPT3_175B", 2, "#d9480f")}
CONTEXTS = 2 ** np.arange(0, 21)  # 1 ... 1,048,576 tokens
TABLE_CONTEXTS = (1, 64, 2048, 65_536, 1_048_576)


def human(n: float) -> str:
    for unit, size in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.3g}{unit}"
    return f"{n:.0f}"


def human_bytes(n: float) -> str:
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n:.0f} B"


def per_token_costs(scale, config: GPTConfig, bytes_per_number: int) -> dict[str, np.ndarray]:
    """Memory (bytes) and FLOPs per generated token at every context of CONTEXTS, counted by
    `scale` (the engine's scale module)."""
    state = scale.recurrent_state_numbers(config) * bytes_per_number
    return dict(
        kv_bytes=np.array([scale.kv_cache_numbers(config, int(t)) * bytes_per_number
                           for t in CONTEXTS], dtype=float),
        rec_bytes=np.full(len(CONTEXTS), float(state)),
        kv_flops=np.array([scale.kv_flops_per_token(config, int(t)) for t in CONTEXTS],
                          dtype=float),
        rec_flops=np.full(len(CONTEXTS), float(scale.recurrent_flops_per_token(config))))


class ScaleView(View):

    def __init__(self, **params):
        super().__init__(**params)
        self.source = ColumnDataSource(dict(name=[], params=[], flops=[], label=[]))
        self.figure = figure(height=260, sizing_mode="stretch_width", min_width=200,
                             x_range=["Napkin GPT", "GPT-2 small", "GPT-3 175B"],
                             y_axis_type="log", toolbar_location=None, tools="",
                             title=N_("Parameters (log scale: each gridline is 10x)"))
        bars = self.figure.vbar(x="name", top="params", bottom=1, width=0.6, source=self.source,
                                color="#4c6ef5")
        self.figure.add_tools(HoverTool(renderers=[bars], tooltips=[
            (N_("model"), "@name"), (N_("parameters"), "@label")]))
        self._table = html_pane()

        self.costs = {name: ColumnDataSource(dict(context=[], kv_bytes=[], rec_bytes=[],
                                                  kv_flops=[], rec_flops=[]))
                      for name in MODELS}
        self.memory = self._cost_figure(N_("Memory kept per sequence (bytes)"), "bytes")
        self.flops = self._cost_figure(N_("FLOPs to generate one token"), "flops")
        self._windows = []
        for fig in (self.memory, self.flops):
            for name in MODELS:
                window = Span(dimension="height", line_color="#adb5bd", line_dash="dotted")
                label = Label(x=1, y=5, y_units="screen", text_font_size="8pt",
                              text_color="#868e96", angle=np.pi / 2, x_offset=-2)
                fig.add_layout(window)
                fig.add_layout(label)
                self._windows.append((name, window, label))
        self._contrast = html_pane()
        self._cost_tables = html_pane()
        self.cost_numbers = PictureOrTable(
            figure_grid(pn.pane.Bokeh(self.memory, sizing_mode="stretch_width"),
                        pn.pane.Bokeh(self.flops, sizing_mode="stretch_width"), min_width=320),
            self._cost_tables)
        self._layout = self._arrange(
            intro=[self.explain(EXPLAIN, EXPLAIN_MORE)],
            models=[pn.pane.Bokeh(self.figure, sizing_mode="stretch_width"), self._table],
            recurrent=[pn.pane.HTML(N_("<h3 style='margin:0.6rem 0 0'>One more token: a KV "
                                       "cache or a recurrent state</h3>"),
                                    sizing_mode="stretch_width"),
                       self._contrast, self.cost_numbers, self.explain(RECURRENT_EXPLAIN)])
        self._update()

    def _cost_figure(self, title: str, what: str):
        fig = figure(height=300, sizing_mode="stretch_width", min_width=200, title=title,
                     x_axis_type="log", y_axis_type="log", toolbar_location=None, tools="",
                     x_axis_label=N_("context (tokens so far)"))
        for name, (_, _, colour) in MODELS.items():
            kv = fig.line("context", f"kv_{what}", source=self.costs[name], line_width=2,
                          color=colour, legend_label=f"{name}: KV cache")
            rec = fig.line("context", f"rec_{what}", source=self.costs[name], line_width=2,
                           color=colour, line_dash="dashed",
                           legend_label=f"{name}: recurrent state")
            for line, kind, column in ((kv, "KV cache", "kv"),
                                       (rec, "recurrent state", "rec")):
                fig.add_tools(HoverTool(renderers=[line], tooltips=[
                    ("", f"{name}, {kind}"), (N_("context"), "@context{0,0}"),
                    (what, f"@{column}_{what}{{0.00a}}")]))
        fig.legend.label_text_font_size = "8pt"
        fig.legend.spacing = 0
        fig.add_layout(fig.legend[0], "below")  # beside the lines it would hide them
        return fig

    def _configs(self, scale) -> dict[str, tuple[GPTConfig, int]]:
        return {name: (getattr(scale, config) if config else self.session.config, size)
                for name, (config, size, _) in MODELS.items()}

    @param.depends("session.weights_version", "session.language", watch=True)
    def _update(self) -> None:
        scale = self.session.engine.scale  # the engine in use: an edit to scale.py shows here
        models = [scale.scale_of("Napkin GPT", self.session.config),
                  scale.scale_of("GPT-2 small", scale.GPT2_SMALL),
                  scale.scale_of("GPT-3 175B", scale.GPT3_175B)]
        ours = models[0]
        self.source.data = dict(name=[m.name for m in models], params=[m.params for m in models],
                                flops=[m.flops_per_token for m in models],
                                label=[f"{m.params:,}" for m in models])
        n = self.session.tr.number
        rows = [(N_("blocks (n_layer)"), lambda m: f"{m.config.n_layer}"),
                (N_("width (n_embd)"), lambda m: n(m.config.n_embd, ",")),
                (N_("heads"), lambda m: f"{m.config.n_head}"),
                (N_("context (tokens)"), lambda m: n(m.config.block_size, ",")),
                (N_("vocabulary"), lambda m: n(m.config.vocab_size, ",")),
                (N_("parameters"), lambda m: n(m.params, ",")),
                (N_("× ours"), lambda m: n(m.params / ours.params, ",.0f") + "×"),
                (N_("forward FLOPs / token"), lambda m: human(m.flops_per_token)),
                (N_("training FLOPs / token"), lambda m: human(m.train_flops_per_token))]
        set_html(self._table, table_html(["", *(m.name for m in models)],
                                         [[self.session.tr(name), *map(f, models)]
                                          for name, f in rows]))
        self._update_costs(scale)

    def _update_costs(self, scale) -> None:
        tr = self.session.tr
        configs = self._configs(scale)
        costs = {name: per_token_costs(scale, c, size) for name, (c, size) in configs.items()}
        for name, cost in costs.items():
            self.costs[name].data = dict(context=CONTEXTS, **cost)
        for name, window, label in self._windows:
            window.location = label.x = configs[name][0].block_size
            label.text = tr("{name} window", name=name)
        for fig in (self.memory, self.flops):  # the legend: each model's two lines
            for item, (name, kind) in zip(fig.legend[0].items, [
                    (name, kind) for name in MODELS for kind in ("kv", "rec")], strict=True):
                said = N_("{name}: KV cache") if kind == "kv" else N_("{name}: recurrent state")
                item.label = value(tr(said, name=name))
        sentences, tables = [], []
        for name, (c, size) in configs.items():
            memory_even, flops_even = scale.break_even_contexts(c)
            t = c.block_size
            kv_full = scale.kv_cache_numbers(c, t) * size
            state = scale.recurrent_state_numbers(c) * size
            sentences.append(tr(
                "{name} ({bits}-bit numbers): at its full window of {t:,} tokens the KV cache "
                "holds {kv} per sequence, a recurrent state {state} at any length; the state "
                "is the smaller past {memory_even:g} tokens and the cheaper past "
                "{flops_even:g}.", name=f"<b>{esc(name)}</b>", bits=8 * size, t=t,
                kv=human_bytes(kv_full), state=human_bytes(state), memory_even=memory_even,
                flops_even=flops_even))
            cost = costs[name]
            rows = [(tr.number(int(x), ","), human_bytes(cost["kv_bytes"][i]),
                     human_bytes(cost["rec_bytes"][i]), human(cost["kv_flops"][i]),
                     human(cost["rec_flops"][i]))
                    for i, x in enumerate(CONTEXTS) if x in TABLE_CONTEXTS]
            table = table_html([tr("context"), tr("KV cache"), tr("recurrent state"),
                                tr("FLOPs/token, KV"), tr("FLOPs/token, recurrent")], rows)
            tables.append(f"<p><b>{esc(name)}</b></p><div style='overflow-x:auto'>{table}</div>")
        set_html(self._contrast, "<p>" + "<br>".join(sentences) + "</p>")
        set_html(self._cost_tables, "".join(tables))

    def __panel__(self):
        return self._layout
