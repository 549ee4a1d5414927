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
    HoverTool,
    NumberFormatter,
    TableColumn,
)
from bokeh.plotting import figure

from app.i18n import N_
from app.session.quantization import EMBEDDINGS, QuantizationLab
from app.views.parts.comparison import paired_bars
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
    kinds = {N_("embeddings") if n in EMBEDDINGS else "LayerNorm" if ".ln_" in n or
             n.startswith("ln_") else N_("biases") if n.endswith(".b") else N_("matrices")
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
            pn.widgets.Select.from_param(lab.param.which, label=N_("Quantized tensors"),
                                         width=240))
        self._choice = html_pane()
        self._size = html_pane()
        self._loss = html_pane()
        self._probs_text = html_pane()
        self._hist_text = html_pane()
        self._tensors = html_pane()

        self.prob_source = ColumnDataSource(dict(y_float=[], y_quant=[], p_float=[],
                                                 p_quant=[], label=[]))
        self.probs = paired_bars(self.prob_source, TOP, 340, "",  # titled as drawn
                                 [("float", FLOAT, "float32", N_("float32 p")),
                                  ("quant", QUANT, N_("quantized"), N_("quantized p"))])

        self.hist_source = ColumnDataSource(dict(left=[], right=[], count=[]))
        self.histogram = figure(height=300, sizing_mode="stretch_width", min_width=200,
                                toolbar_location=None, tools="", title="",  # titled as drawn
                                x_axis_label=N_("quantized − original"),
                                y_axis_label=N_("weights"))
        bars = self.histogram.quad(left="left", right="right", top="count", bottom=0,
                                   source=self.hist_source, color=QUANT, line_color="white")
        self.histogram.xaxis.formatter = BasicTickFormatter(use_scientific=False)
        self.histogram.xaxis.ticker.desired_num_ticks = 5  # room for 0.0015 on a phone
        self.histogram.add_tools(HoverTool(renderers=[bars], tooltips=[
            (N_("error from"), "@left{0.000000}"), (N_("to"), "@right{0.000000}"),
            (N_("weights"), "@count")]))
        self.hist_table = DataTable(
            source=self.hist_source, height=300, sizing_mode="stretch_width",
            index_position=None,
            columns=[TableColumn(field="left", title=N_("error from"),
                                 formatter=NumberFormatter(format="0.000000")),
                     TableColumn(field="right", title=N_("to"),
                                 formatter=NumberFormatter(format="0.000000")),
                     TableColumn(field="count", title=N_("weights"))])
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
            rounding=[pn.widgets.Select.from_param(self.param.tensor, label=N_("Tensor"),
                                                   width=240),
                      self.hist_numbers, self._hist_text],
            tensors=[self._tensors])
        self._show_report()
        self._show_losses()
        self._show_probs()
        self.lab.active = self.param.active  # from now on, quantized only while shown

    @param.depends("session.language", watch=True)
    def _translate(self) -> None:
        self._show_report()
        self._show_losses()
        self._show_probs()

    # ---- size and the tensor choice --------------------------------------------------------

    @param.depends("lab.report", watch=True)
    def _show_report(self) -> None:
        report: QuantReport = self.lab.report
        tr = self.session.tr
        name = fmt_name(report.fmt)
        quantized = report.quantized
        kept = [n for n in report.tensors if n not in quantized]
        share = sum(report.tensors[n].n_weights for n in quantized) / report.n_weights
        stay = (tr("; the other {n} ({kinds}) stay float32", n=len(kept),
                   kinds=", ".join(tr(k) for k in kinds_kept_float(kept))) if kept else "")
        set_html(self._choice, "<p>" + esc(tr(
            "{n} of {total} tensors, {share:.1%} of the weights, are stored in {name}{stay}.",
            n=len(quantized), total=len(report.tensors), share=share, name=name,
            stay=stay)) + "</p>")
        n = tr.number
        sizes = [(tr("bytes"), n(report.bytes_before, ","), n(report.bytes_after, ",")),
                 (tr("bits per weight"), "32", n(report.bits_per_weight, ".3f")),
                 (tr("smaller by"), "", n(report.bytes_before / report.bytes_after, ".2f") + "×")]
        set_html(self._size,
                 table_html([tr("size"), "float32", name], sizes)
                 + "<p class='explain'>" + esc(tr(
                     "Tensor data of {n:,} weights, exact; a GGUF file adds a header.",
                     n=report.n_weights)) + "</p>")
        tensors = [(t.name, fmt_name(t.fmt), n(t.bytes_after, ","), n(t.bits_per_weight, ".2f"),
                    f"{t.max_abs_error:.2e}") for t in report.tensors.values()]
        table = table_html([tr("tensor"), tr("stored as"), tr("bytes"), tr("bits/weight"),
                            tr("max |error|")], tensors)
        said = esc(tr("Every tensor ({n}): how it is stored", n=len(report.tensors)))
        set_html(self._tensors, f"<details><summary>{said}</summary><div "
                                f"style='overflow-x:auto'>{table}</div></details>")
        self.probs.title.text = tr("Next-token probabilities: float32 and {name}", name=name)
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
        tr = self.session.tr
        self.histogram.title.text = tr("Rounding error of {tensor} ({fmt})", tensor=t.name,
                                       fmt=fmt_name(t.fmt))
        set_html(self._hist_text, "<p class='explain'>" + esc(tr(
            "{tensor} {shape}: {n:,} weights in {blocks:,} blocks, {bytes:,} bytes (float32: "
            "{before:,}). Largest error {largest}; the typical (RMS) error is {relative:.2%} "
            "of the typical weight. Each block's largest weight sits on its grid (but for the "
            "fp16 rounding of the scale): one weight in 32 makes the spike at zero.",
            tensor=t.name, shape=str(t.error.shape), n=t.n_weights, blocks=t.stored.n_blocks,
            bytes=t.bytes_after, before=t.bytes_before, largest=f"{t.max_abs_error:.2e}",
            relative=relative)) + "</p>")

    # ---- what it costs ------------------------------------------------------------------------

    @param.depends("lab.float_loss", "lab.quant_loss", watch=True)
    def _show_losses(self) -> None:
        lab, tr = self.lab, self.session.tr
        if lab.float_loss is None:
            set_html(self._loss, "<p class='explain'>" + esc(tr(
                "There is no held-out text to measure the loss on: train on a longer "
                "text.")) + "</p>")
            return
        name = fmt_name(lab.fmt)
        T = self.session.config.block_size
        rows = [(tr("validation loss"), lab.float_loss, lab.quant_loss, ".4f"),
                (tr("perplexity"), lab.float_perplexity, lab.quant_perplexity, ".3f")]
        n = tr.number
        body = [(what, n(a, f), n(b, f), n(b - a, "+" + f)) for what, a, b, f in rows]
        set_html(self._loss,
                 table_html([tr("held-out text"), "float32", name, tr("change")], body)
                 + "<p class='explain'>" + tr(
                     "Mean over {windows} evenly spaced windows of {T} tokens ({guesses:,} "
                     "next-token guesses). Perplexity, e<sup>loss</sup>, is how many equally "
                     "likely tokens would be as hard to guess between.",
                     windows=lab.eval_windows, T=T, guesses=lab.eval_windows * T) + "</p>")

    @param.depends("lab.float_probs", "lab.quant_probs", watch=True)
    def _show_probs(self) -> None:
        s, lab = self.session, self.lab
        p, q = lab.float_probs, lab.quant_probs
        order = np.argsort(-np.maximum(p, q), kind="stable")[:TOP]
        labels = [visible(piece) for piece in s.pieces(order)]
        y = np.arange(len(order))
        self.prob_source.data = dict(
            y_float=y - 0.2, y_quant=y + 0.2, p_float=p[order], p_quant=q[order],
            label=[s.tr("{piece} (id {id})", piece=repr(piece), id=i)
                   for piece, i in zip(labels, order, strict=True)])
        self.probs.yaxis.major_label_overrides = dict(enumerate(labels))
        self.probs.x_range.end = float(max(p.max(), q.max(), 0.05)) * 1.05
        compare = s.engine.compare
        top_p, top_q = int(np.argmax(p)), int(np.argmax(q))
        kl, moved = compare.kl_divergence(p, q), compare.largest_change(p, q)
        agree = compare.top_agreement(p, q) == 1.0

        def token(i: int) -> str:
            return f"<span class='big'>{esc(repr(visible(s.pieces([i])[0])))}</span>"

        tr = s.tr
        same = tr("the same token") if agree else tr("{token} instead", token=token(top_q))
        set_html(self._probs_text, "<p>" + tr(
            "Next token after the prompt: float32 picks {token} (p = {p:.3f}), {fmt} {same} "
            "(p = {q:.3f}). No token's probability moves by more than {moved:.4f}; the two "
            "distributions differ by KL = {kl:.5f} nats.", token=token(top_p), p=p[top_p],
            fmt=fmt_name(lab.fmt), same=same, q=q[top_q], moved=moved, kl=kl) + "</p>")

    def __panel__(self):
        return self._layout
