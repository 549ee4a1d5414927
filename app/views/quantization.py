"""Quantization: the model stored the way llama.cpp stores it, and what that costs: size,
rounding error per tensor, validation loss, and the next-token probabilities of the prompt."""

from __future__ import annotations

import numpy as np
import panel as pn
import param
from bokeh.models import (
    BasicTickFormatter,
    ColumnDataSource,
    DataTable,
    FixedTicker,
    HoverTool,
    NumberFormatter,
    TableColumn,
)
from bokeh.plotting import figure

from app.i18n import N_
from app.session.quantization import EMBEDDINGS, QuantizationLab
from app.views.parts.gguf_download import GGUFDownload
from app.views.parts.layout import figure_grid, wrap_row
from app.views.parts.markup import esc, html_pane, set_html, table_html, visible
from app.views.parts.picture_or_table import PictureOrTable
from app.views.parts.view import View
from engine.quant import QuantReport, TensorQuant

TOP = 10  # tokens compared
BINS = 41  # histogram bins, an odd number so that one is centred on zero
GRID = 460  # narrowest column: two side by side on a wide page, stacked on a phone
FLOAT, QUANT = "#868e96", "#d9480f"
FORMAT_LABELS = {"Q8_0": "q8_0", "Q4_0": "q4_0"}
EXPLAIN = N_(
    "llama.cpp shrinks a model by storing its weights in blocks of 32. A block keeps one "
    "scale as a 16-bit float and then one small integer per weight: 8 bits each in Q8_0, "
    "4 bits each in Q4_0.")
EXPLAIN_MORE = N_(
    "Q8_0 keeps −127…127 steps of the scale, Q4_0 −8…7, so a block takes 34 or 18 bytes "
    "instead of float32's 128. Reading a weight back multiplies its integer by the scale; "
    "what that rounding loses is drawn below, and the same model runs on the rounded "
    "weights to show what it costs.")


def kinds_kept_float(names: list[str]) -> list[str]:
    """Plain words for the tensors left in float32, in the model's order."""
    kinds = {"embeddings" if n in EMBEDDINGS else "LayerNorm" if ".ln_" in n or
             n.startswith("ln_") else "biases" if n.endswith(".b") else "matrices"
             for n in names}
    return [k for k in ("embeddings", "matrices", "biases", "LayerNorm") if k in kinds]


def fmt_name(fmt: str) -> str:
    return fmt.upper() if fmt != "f32" else "float32"


class QuantizationView(View):
    lab = param.ClassSelector(class_=QuantizationLab,
                              doc="The quantized model's state; made for the session if not "
                                  "given.")
    tensor = param.Selector(default=None, objects=[],
                            doc="The quantized tensor whose rounding error is drawn.")

    def __init__(self, **params):
        if params.get("lab") is None:
            params["lab"] = QuantizationLab(session=params["session"])
        params["lab"].active = True  # catch up before the watchers below exist: drawn once
        super().__init__(**params)
        lab = self.lab
        controls = wrap_row(
            pn.widgets.RadioButtonGroup.from_param(lab.param.fmt, options=FORMAT_LABELS,
                                                   color="primary", width=160,
                                                   margin=(22, 10, 5, 10)),
            pn.widgets.Select.from_param(lab.param.which, label="Quantized tensors",
                                         width=240))
        self._choice = html_pane()
        self._size = html_pane()
        self._loss = html_pane()
        self._probs_text = html_pane()
        self._hist_text = html_pane()
        self._tensors = html_pane()

        self.prob_source = ColumnDataSource(dict(y_float=[], y_quant=[], p_float=[],
                                                 p_quant=[], label=[]))
        self.probs = figure(height=340, sizing_mode="stretch_width", min_width=200,
                            x_range=(0, 1), toolbar_location=None, tools="",
                            title="Next-token probabilities", x_axis_label="probability")
        before = self.probs.hbar(y="y_float", right="p_float", height=0.38,
                                 source=self.prob_source, color=FLOAT, legend_label="float32")
        after = self.probs.hbar(y="y_quant", right="p_quant", height=0.38,
                                source=self.prob_source, color=QUANT, legend_label="quantized")
        self.probs.add_tools(HoverTool(renderers=[before, after], tooltips=[
            ("token", "@label"), ("float32 p", "@p_float{0.0000}"),
            ("quantized p", "@p_quant{0.0000}")]))
        self.probs.y_range.flipped = True
        self.probs.ygrid.visible = False
        self.probs.legend.location = "bottom_right"
        self.probs.legend.label_text_font_size = "8pt"
        self.probs.yaxis.ticker = FixedTicker(ticks=list(range(TOP)))
        self.probs.yaxis.major_label_text_font_size = "11pt"

        self.hist_source = ColumnDataSource(dict(left=[], right=[], count=[]))
        self.histogram = figure(height=300, sizing_mode="stretch_width", min_width=200,
                                toolbar_location=None, tools="", title="Rounding error",
                                x_axis_label="quantized − original", y_axis_label="weights")
        bars = self.histogram.quad(left="left", right="right", top="count", bottom=0,
                                   source=self.hist_source, color=QUANT, line_color="white")
        self.histogram.xaxis.formatter = BasicTickFormatter(use_scientific=False)
        self.histogram.xaxis.ticker.desired_num_ticks = 5  # room for 0.0015 on a phone
        self.histogram.add_tools(HoverTool(renderers=[bars], tooltips=[
            ("error from", "@left{0.000000}"), ("to", "@right{0.000000}"),
            ("weights", "@count")]))
        self.hist_table = DataTable(
            source=self.hist_source, height=300, sizing_mode="stretch_width",
            index_position=None,
            columns=[TableColumn(field="left", title="error from",
                                 formatter=NumberFormatter(format="0.000000")),
                     TableColumn(field="right", title="to",
                                 formatter=NumberFormatter(format="0.000000")),
                     TableColumn(field="count", title="weights")])
        self.hist_numbers = PictureOrTable(
            pn.pane.Bokeh(self.histogram, sizing_mode="stretch_width"),
            pn.pane.Bokeh(self.hist_table, sizing_mode="stretch_width"))

        self.download = GGUFDownload(session=self.session, fmt=lab.param.fmt,
                                     active=self.param.active)  # the file llama.cpp runs
        self._layout = self._arrange(
            intro=[self.explain(EXPLAIN, EXPLAIN_MORE)],
            compare=[pn.pane.Bokeh(self.probs, sizing_mode="stretch_width"), self._probs_text,
                     controls, self.download],
            size=[self._choice, figure_grid(self._size, self._loss, min_width=GRID)],
            rounding=[pn.widgets.Select.from_param(self.param.tensor, label="Tensor", width=240),
                      self.hist_numbers, self._hist_text],
            tensors=[self._tensors])
        self._show_report()
        self._show_losses()
        self._show_probs()
        self.lab.active = self.param.active  # from now on, quantized only while shown

    # ---- size and the tensor choice --------------------------------------------------------

    @param.depends("lab.report", watch=True)
    def _show_report(self) -> None:
        report: QuantReport = self.lab.report
        name = fmt_name(report.fmt)
        quantized = report.quantized
        kept = [n for n in report.tensors if n not in quantized]
        share = sum(report.tensors[n].n_weights for n in quantized) / report.n_weights
        stay = (f"; the other {len(kept)} ({', '.join(kinds_kept_float(kept))}) stay float32"
                if kept else "")
        set_html(self._choice,
                 f"<p>{len(quantized)} of {len(report.tensors)} tensors, {share:.1%} of the "
                 f"weights, are stored in {name}{stay}.</p>")
        sizes = [("bytes", f"{report.bytes_before:,}", f"{report.bytes_after:,}"),
                 ("bits per weight", "32", f"{report.bits_per_weight:.3f}"),
                 ("smaller by", "", f"{report.bytes_before / report.bytes_after:.2f}×")]
        set_html(self._size,
                 table_html(["size", "float32", name], sizes)
                 + f"<p class='explain'>Tensor data of {report.n_weights:,} weights, exact; a "
                 "GGUF file adds a header.</p>")
        tensors = [(t.name, fmt_name(t.fmt), f"{t.bytes_after:,}", f"{t.bits_per_weight:.2f}",
                    f"{t.max_abs_error:.2e}") for t in report.tensors.values()]
        table = table_html(["tensor", "stored as", "bytes", "bits/weight", "max |error|"],
                           tensors)
        set_html(self._tensors,
                 f"<details><summary>Every tensor ({len(report.tensors)}): how it is stored"
                 f"</summary><div style='overflow-x:auto'>{table}</div></details>")
        self.probs.title.text = f"Next-token probabilities: float32 and {name}"
        tensor = self.tensor if self.tensor in quantized else quantized[0]
        self.param.tensor.objects = quantized
        if tensor == self.tensor:
            self._show_histogram()  # same tensor, new numbers
        else:
            self.tensor = tensor

    @param.depends("tensor", watch=True)
    def _show_histogram(self) -> None:
        t: TensorQuant = self.lab.report.tensors[self.tensor]
        quant = self.session.engine.quant  # the engine in use: an edit to quant.py shows here
        counts, edges = quant.error_histogram(t.error, bins=BINS)
        self.hist_source.data = dict(left=edges[:-1], right=edges[1:], count=counts)
        original = self.lab.model.params[t.name].astype(np.float64) - t.error
        relative = quant.relative_rms_error(t.error, original)
        self.histogram.title.text = f"Rounding error of {t.name} ({fmt_name(t.fmt)})"
        set_html(self._hist_text,
                 f"<p class='explain'>{esc(t.name)} {esc(t.error.shape)}: {t.n_weights:,} "
                 f"weights in {t.stored.n_blocks:,} blocks, {t.bytes_after:,} bytes "
                 f"(float32: {t.bytes_before:,}). Largest error {t.max_abs_error:.2e}; the "
                 f"typical (RMS) error is {relative:.2%} of the typical weight. Each block's "
                 "largest weight sits on its grid (but for the fp16 rounding of the scale): "
                 "one weight in 32 makes the spike at zero.</p>")

    # ---- what it costs ------------------------------------------------------------------------

    @param.depends("lab.float_loss", "lab.quant_loss", watch=True)
    def _show_losses(self) -> None:
        lab = self.lab
        if lab.float_loss is None:
            set_html(self._loss, "<p class='explain'>There is no held-out text to measure "
                                 "the loss on: train on a longer text.</p>")
            return
        name = fmt_name(lab.fmt)
        T = self.session.config.block_size
        rows = [("validation loss", lab.float_loss, lab.quant_loss, ".4f"),
                ("perplexity", lab.float_perplexity, lab.quant_perplexity, ".3f")]
        body = [(what, f"{a:{f}}", f"{b:{f}}", f"{b - a:+{f}}") for what, a, b, f in rows]
        set_html(self._loss,
                 table_html(["held-out text", "float32", name, "change"], body)
                 + f"<p class='explain'>Mean over {lab.eval_windows} evenly spaced windows of "
                 f"{T} tokens ({lab.eval_windows * T:,} next-token guesses). Perplexity, "
                 "e<sup>loss</sup>, is how many equally likely tokens would be as hard to "
                 "guess between.</p>")

    @param.depends("lab.float_probs", "lab.quant_probs", watch=True)
    def _show_probs(self) -> None:
        s, lab = self.session, self.lab
        p, q = lab.float_probs, lab.quant_probs
        order = np.argsort(-np.maximum(p, q), kind="stable")[:TOP]
        labels = [visible(piece) for piece in s.pieces(order)]
        y = np.arange(len(order))
        self.prob_source.data = dict(
            y_float=y - 0.2, y_quant=y + 0.2, p_float=p[order], p_quant=q[order],
            label=[f"{piece!r} (id {i})" for piece, i in zip(labels, order, strict=True)])
        self.probs.yaxis.major_label_overrides = dict(enumerate(labels))
        self.probs.x_range.end = float(max(p.max(), q.max(), 0.05)) * 1.05
        compare = s.engine.compare
        top_p, top_q = int(np.argmax(p)), int(np.argmax(q))
        kl, moved = compare.kl_divergence(p, q), compare.largest_change(p, q)
        agree = compare.top_agreement(p, q) == 1.0

        def token(i: int) -> str:
            return f"<span class='big'>{esc(repr(visible(s.pieces([i])[0])))}</span>"

        same = "the same token" if agree else f"{token(top_q)} instead"
        set_html(self._probs_text,
                 f"<p>Next token after the prompt: float32 picks {token(top_p)} "
                 f"(p = {p[top_p]:.3f}), {fmt_name(lab.fmt)} {same} (p = {q[top_q]:.3f}). "
                 f"No token's probability moves by more than {moved:.4f}; "
                 f"the two distributions differ by KL = {kl:.5f} nats.</p>")

    def __panel__(self):
        return self._layout
