"""Training: batch -> forward -> loss -> backward -> AdamW update, one step at a time or
playing, with the loss curve and the gradients of every tensor."""

from __future__ import annotations

import numpy as np
import panel as pn
import param
from bokeh.core.properties import value
from bokeh.models import ColumnDataSource, FixedTicker, HoverTool, LegendItem, Span
from bokeh.plotting import figure

from app.i18n import N_
from app.session.clock import stage_name
from app.session.heads import HeadRoles
from app.session.training import TRAIN_PHASES, VAL_EVERY
from app.views.parts.gguf_download import GGUFDownload
from app.views.parts.head_grid import HeadGrid
from app.views.parts.heatmap import Heatmap
from app.views.parts.layout import figure_grid, wrap_row
from app.views.parts.markup import Markup, esc, html_pane, set_html, table_html
from app.views.parts.picture_or_table import PictureOrTable
from app.views.parts.view import View

# what each picture shows now, in words (its text alternative)
LOSS_SAY = N_("After {steps:,} steps the loss is {loss:.3f} on the last batch{held_out}.")
HELD_OUT_SAY = N_(" and {loss:.3f} on held-out text")
GRAD_SAY = N_("{what}: {rows} × {cols} numbers, the largest in size {value:+.2e} at row {row}, "
              "column {col}.")
EXPLAIN = N_(
    "Each training step takes a batch of windows from the text, runs the model forward, "
    "measures the loss (how surprised it was by the true next tokens), runs backward to get "
    "the gradient of the loss for every weight, and lets AdamW move each weight a little "
    "against its gradient.")
EXPLAIN_MORE = N_("Step walks through those five phases; Play trains continuously.")
PHASE_TEXT = {
    "batch": N_("Batch: {B} windows of {T} tokens drawn at random from the text (see "
                "Examples)."),
    "forward": N_("Forward: the model predicts a next-token distribution at all {BT} "
                  "positions."),
    "loss": N_("Loss: the mean of -log p(true next token) over the batch: {loss:.4f} "
               "(guessing uniformly would give ln V = {uniform:.2f})."),
    "backward": N_("Backward: the chain rule, layer by layer from the loss back to every "
                   "weight. Gradient norm {norm:.3f} (clipped to 1)."),
    "update": N_("Update: AdamW moved every weight by about the learning rate {lr:g} against "
                 "its gradient's running average."),
}
ZERO_EXPLAIN = N_(
    "Learn from zero starts a new model of the same shape with random weights and trains it "
    "on the same Shakespeare. At first it guesses every character about equally: its loss "
    "is ln V. Watch the loss fall, the validation loss (text it never trains on) follow, "
    "and the samples turn from noise into letters, words and names. The dashed line is "
    "where the shipped model ended up. Further down, the head roles show when heads stop "
    "spreading their attention evenly (scores near 0.06) and start to look at the previous "
    "character: with the defaults, block 0's heads begin to after about a thousand steps.")
ROLES_EVERY = 10  # while training plays, head roles are measured every this many steps
DRAW_EVERY = 10  # while training plays, gradients are drawn every this many steps or more
LEARNING_RATES = [1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0, 3.0, 10.0]


class TrainingView(View):
    tensor = param.Selector(default="h.0.attn.c_attn.w", objects=["h.0.attn.c_attn.w"])
    roles = param.ClassSelector(class_=HeadRoles, doc="Head roles while the model trains; "
                                                      "made for the session if not given.")

    def __init__(self, **params):
        if params.get("roles") is None:
            params["roles"] = HeadRoles(session=params["session"], every=ROLES_EVERY)
        params["roles"].active = True  # catch up before the grid below is drawn
        super().__init__(**params)
        s, training = self.session, self.session.training
        names = list(s.model.params)
        self.param.tensor.objects = names
        play = pn.widgets.Toggle.from_param(s.clock.param.playing, label=N_("▶ Train / ❚❚ Pause"),
                                            color="primary", width=160)
        step = pn.widgets.Button(label=N_("Step one phase ›"), width=150,
                                 description=N_("Advance to the next training phase"),
                                 stylesheets=[".bk-btn { min-height: 44px; }"])
        step.on_click(lambda _: self._step())
        reset = pn.widgets.Button(label=N_("Reset to shipped weights"),
                                  width=200)
        reset.on_click(lambda _: self.session.reset_weights())
        from_zero = pn.widgets.Button(label=N_("Learn from zero"), color="primary", width=160,
                                      description=N_("A new model with random weights, "
                                                     "trained on the shipped text"))
        from_zero.on_click(lambda _: training.start_from_zero())
        lr = pn.widgets.DiscreteSlider(label=N_("Learning rate"), options=LEARNING_RATES,
                                       value=training.learning_rate, width=230)
        lr.link(training, value="learning_rate", bidirectional=True)
        batch_size = pn.widgets.IntSlider.from_param(training.param.batch_size,
                                                     label=N_("Batch size"), width=200)
        self._phases = html_pane()
        self._status = html_pane()

        self.loss_source = ColumnDataSource(dict(step=[], loss=[]))
        self.val_source = ColumnDataSource(dict(step=[], loss=[]))
        self.loss_plot = figure(height=260, sizing_mode="stretch_width", min_width=200,
                                title=N_("Loss"), x_axis_label=N_("step"),
                                y_axis_label=N_("cross-entropy"),
                                tools="pan,wheel_zoom,reset", toolbar_location="right")
        self.loss_plot.line("step", "loss", source=self.loss_source, legend_label=N_("batch"),
                            color="#4c6ef5")
        self.loss_plot.scatter("step", "loss", source=self.val_source,
                               legend_label=N_("validation"), color="#d9480f", size=6)
        # the reference losses: lines across the plot, named in the legend, and invisible
        # points at their heights so that the axis always shows them
        self.uniform = Span(location=training.loss_baseline(), dimension="width",
                            line_dash="dotted", line_color="#868e96", line_width=2)
        self.shipped = Span(location=training.shipped_val_loss or 0, dimension="width",
                            line_dash="dashed", line_color="#2f9e44", line_width=2)
        self.references = ColumnDataSource(dict(step=[], loss=[]))
        self.loss_plot.scatter("step", "loss", source=self.references, alpha=0)
        keys = {}
        for name, span in (("uniform", self.uniform), ("shipped", self.shipped)):
            self.loss_plot.add_layout(span)
            keys[name] = self.loss_plot.line([], [], line_dash=span.line_dash, line_width=2,
                                             line_color=span.line_color)
        self.uniform_item = LegendItem(renderers=[keys["uniform"]])  # named as drawn
        self.shipped_item = LegendItem(renderers=[keys["shipped"]])
        self._loss_items = list(self.loss_plot.legend.items)
        self.loss_plot.legend.location = "top_right"
        self._curve_of = None  # the model whose curve is drawn
        self._grads_drawn: int | None = None  # the step whose gradients are drawn
        self._zero = html_pane()
        self.grid = HeadGrid(roles=self.roles)
        self._milestones = html_pane()

        self.norm_source = ColumnDataSource(dict(y=[], norm=[], name=[], color=[]))
        self.norms = figure(height=max(260, 14 * len(names)), sizing_mode="stretch_width",
                            x_axis_type="log", toolbar_location=None, tools="tap",
                            title=N_("Gradient norm per tensor (click one to map it)"))
        bars = self.norms.hbar(y="y", left=1e-8, right="norm", height=0.7,
                               source=self.norm_source, color="color")
        self.norms.add_tools(HoverTool(renderers=[bars], tooltips=[
            (N_("tensor"), "@name"), (N_("norm"), "@norm{0.0000e}")]))
        self.norms.y_range.flipped = True
        self.norms.yaxis.ticker = FixedTicker(ticks=list(range(len(names))))
        self.norms.yaxis.major_label_overrides = dict(enumerate(names))
        self.norms.yaxis.major_label_text_font_size = "8pt"
        self.norm_source.selected.on_change("indices", self._tap_tensor)
        self.grad_map = Heatmap("", N_("row"), N_("column"), height=300)  # titled as drawn
        tensor = pn.widgets.Select.from_param(self.param.tensor, label=N_("Tensor"), width=220)

        self.text = pn.widgets.TextAreaInput(
            label=N_("Your own text"), height=120, sizing_mode="stretch_width",
            max_length=2_000_000, placeholder=N_(
                "Paste a few thousand characters (a poem, code, a book chapter)…"))
        use_text = pn.widgets.Button(label=N_("Train a new model on this text"), width=260)
        use_text.on_click(lambda _: training.train_on_text(self.text.value))
        self.download = GGUFDownload(session=s, fmt="f32", choose=True, weights=True,
                                     active=self.param.active)  # the model as trained
        self._loss_table = html_pane()
        self.loss_numbers = PictureOrTable(
            pn.pane.Bokeh(self.loss_plot, sizing_mode="stretch_width"), self._loss_table)
        self.loss_numbers.param.watch(lambda _: self._fill_loss_table(), "showing_table")
        self._layout = self._arrange(
            intro=[self.explain(EXPLAIN, EXPLAIN_MORE)],
            curve=[wrap_row(play, from_zero, reset), self.loss_numbers, self._zero,
                   self.explain(ZERO_EXPLAIN), self._milestones],
            step=[wrap_row(step, self._phases, align_items="center"),
                  figure_grid(pn.pane.Bokeh(self.norms, sizing_mode="stretch_width"),
                              pn.Column(tensor, self.grad_map, sizing_mode="stretch_width")),
                  self._status, wrap_row(lr, batch_size)],
            roles=[pn.pane.HTML(N_("<h3 style='margin:0.6rem 0 0'>Head roles as it learns</h3>"),
                                sizing_mode="stretch_width"), self.grid],
            own_text=[self.text, use_text], download=[self.download])
        self._update_loss()
        self._update_step()
        self._show_progress()
        self._show_milestones()
        self.roles.active = self.param.active  # from now on, scored only while shown

    def _step(self) -> None:
        s = self.session
        s.mode = "train"
        s.clock.playing = False
        s.clock.tick()

    def _name_tensors(self, names: list[str]) -> None:
        self.param.tensor.objects = names
        if self.tensor not in names:
            self.tensor = names[0]
        self.norms.height = max(260, 14 * len(names))
        self.norms.yaxis.ticker = FixedTicker(ticks=list(range(len(names))))
        self.norms.yaxis.major_label_overrides = dict(enumerate(names))

    def _tap_tensor(self, attr, old, new) -> None:
        if new:
            self.tensor = self.param.tensor.objects[new[0]]

    @param.depends("session.training.history_version", watch=True)
    def _update_loss(self) -> None:
        s, training = self.session, self.session.training
        have = len(self.loss_source.data["step"])
        if s.model is not self._curve_of or have > len(training.history):
            have = 0  # a reset, a new model or new code: draw the curve again
            self.loss_source.data = dict(step=[], loss=[])
            self.val_source.data = dict(step=[], loss=[])
            self._curve_of = s.model
            self._show_references()
        new = training.history[have:]
        if new:
            steps, losses = zip(*new, strict=True)
            self.loss_source.stream(dict(step=list(steps), loss=list(losses)), rollover=20_000)
        if training.history:
            held_out = (self.session.tr(HELD_OUT_SAY, loss=training.val_history[-1][1])
                        if training.val_history else "")
            self.loss_numbers.summary = self.session.tr(LOSS_SAY,
                steps=len(training.history), loss=training.history[-1][1], held_out=held_out)
        vals = training.val_history[len(self.val_source.data["step"]):]
        if vals:
            steps, losses = zip(*vals, strict=True)
            self.val_source.stream(dict(step=list(steps), loss=list(losses)))
        self._fill_loss_table()

    def _fill_loss_table(self) -> None:
        """The curve as numbers, while they are shown: each validation point, with the mean
        batch loss of the steps that led to it, and the two reference losses."""
        training, tr = self.session.training, self.session.tr
        if not self.loss_numbers.showing_table:
            return
        batch = np.array([loss for _, loss in training.history])
        rows = [(tr.number(step, ","), tr.number(batch[max(0, step - VAL_EVERY):step].mean(),
                                                  ".3f") if step else "–",
                 tr.number(val, ".3f")) for step, val in training.val_history]
        header = [tr("step"), tr("batch loss (mean of the {n} steps before)", n=VAL_EVERY),
                  tr("validation loss")]
        said = tr("Guessing uniformly: ln V = {loss:.3f}.", loss=training.loss_baseline())
        if self.shipped.visible:
            said += " " + tr("The shipped model: validation {loss}.",
                             loss=training.shipped_val_loss)
        set_html(self._loss_table,
                 f"<p class='explain'>{esc(said)}</p><div style='max-height:20rem;"
                 f"overflow-y:auto'>{table_html(header, rows)}</div>")

    def _show_references(self) -> None:
        """ln V for this vocabulary; the shipped model's loss when the text is the shipped."""
        s, training = self.session, self.session.training
        baseline = training.loss_baseline()
        self.uniform.location = baseline
        tr = s.tr
        self.uniform_item.label = value(tr("ln V = {loss:.2f}: guessing uniformly", loss=baseline))
        self.shipped_item.label = value(tr("shipped model: validation {loss}",
                                           loss=training.shipped_val_loss))
        shipped = training.shipped_val_loss is not None and s.corpus_name == "Shakespeare"
        self.shipped.visible = shipped
        self.loss_plot.legend.items = [*self._loss_items, self.uniform_item,
                                       *([self.shipped_item] if shipped else [])]
        losses = [baseline, *([training.shipped_val_loss] if shipped else [])]
        self.references.data = dict(step=[0] * len(losses), loss=losses)

    @param.depends("session.language", watch=True)
    def _translate(self) -> None:
        self._show_references()
        self._fill_loss_table()

    @param.depends("session.training.from_zero", "session.training.history_version",
                   "session.training.steps_per_minute", "session.language", watch=True)
    def _show_progress(self) -> None:
        training, tr = self.session.training, self.session.tr
        if not training.from_zero:
            set_html(self._zero, "")
            return
        record = training.shipped_training
        steps, vals = len(training.history), training.val_history
        val = tr("validation loss {loss:.3f} (at step {step:,})", loss=vals[-1][1],
                 step=vals[-1][0]) if vals else ""
        rate = (tr("Training here: about {rate:,.0f} steps a minute.",
                   rate=training.steps_per_minute)
                if training.steps_per_minute else "" if steps else tr("Press Train to start."))
        shipped = (tr("The shipped model reached {loss:.3f} after {steps:,} steps of {B} "
                      "windows.", loss=training.shipped_val_loss,
                      steps=record.get("steps_done", 0),
                      B=record.get("train_config", {}).get("batch_size", "?"))
                   if training.shipped_val_loss else "")
        said = tr("Learning from zero: {steps:,} steps of {B} windows so far; {val}.",
                  steps=steps, B=training.batch_size, val=val)
        said = " ".join(filter(None, [said, rate, shipped]))
        set_html(self._zero, f"<div class='note ok'>{esc(said)}</div>")

    @param.depends("session.training.milestones", "session.language", watch=True)
    def _show_milestones(self) -> None:
        training, tr = self.session.training, self.session.tr
        if not training.milestones:
            set_html(self._milestones, "")
            return
        rows = [(tr.number(m.step, ","), "" if m.val_loss is None else tr.number(m.val_loss, ".3f"),
                 Markup("<div class='generated' style='text-align:left'>"
                        f"{esc(m.sample)}</div>"))
                for m in reversed(training.milestones)]
        set_html(self._milestones,
                 "<p class='explain'>" + esc(tr(
                     "What the model writes at milestones (from a newline, temperature 0.8, the "
                     "same seed each time):")) + "</p><div style='overflow-x:auto'>"
                 + table_html([tr("step"), tr("validation loss"),
                               tr.pgettext("what the model wrote", "sample")], rows)
                 + "</div>")

    @param.depends("session.training.train_step", "session.clock.frame", "session.mode",
                   "tensor", "session.clock.playing", "session.language", watch=True)
    def _update_step(self) -> None:
        s, training, tr = self.session, self.session.training, self.session.tr
        report = training.train_step
        phase = s.clock.stage if s.mode == "train" else "update"
        chips = "".join(f'<span class="stage {"active" if p == phase else ""}">'
                        f"{esc(stage_name(tr, p))}</span>" + (" → " if p != "update" else "")
                        for p in TRAIN_PHASES)
        if report is None:
            set_html(self._phases, f'<div class="stages">{chips}</div>')
            set_html(self._status, "<p>" + esc(tr("No step taken yet. Press Step or Train."))
                     + "</p>")
            self.grad_map.figure.title.text = tr("gradient")
            return
        B, T = report.batch.x.shape
        lr = getattr(report, "lr", training.learning_rate)
        text = tr(PHASE_TEXT[phase], B=B, T=T, BT=B * T, loss=report.loss,
                                        uniform=training.loss_baseline(), norm=report.grad_norm,
                                        lr=lr)
        set_html(self._phases, f'<div class="stages">{chips}</div><p>{esc(text)}</p>')
        set_html(self._status, "<p>" + esc(tr(
            "Step {step}: batch loss {loss:.4f}, gradient norm {norm:.3f}.", step=report.step,
            loss=report.loss, norm=report.grad_norm)) + "</p>")
        drawn = self._grads_drawn
        if training.playing and drawn is not None and 0 <= report.step - drawn < DRAW_EVERY:
            return  # thousands of cells a step slow the page down; a pause draws the last
        self._grads_drawn = report.step
        names = list(s.model.params)
        if names != self.param.tensor.objects:  # a model of another shape was opened
            self._name_tensors(names)
        grads = report.grads
        self.norm_source.data = dict(
            y=list(range(len(names))), name=names,
            norm=[max(float(np.linalg.norm(grads[n])), 1e-8) for n in names],
            color=["#d9480f" if n == self.tensor else "#4c6ef5" for n in names])
        updates = getattr(report, "updates", None)
        show_update = phase == "update" and updates is not None
        matrix = (updates if show_update else grads)[self.tensor]
        matrix = matrix if matrix.ndim == 2 else matrix[None, :]
        title = N_("AdamW update Δw of {tensor}") if show_update else N_("gradient of {tensor}")
        self.grad_map.figure.title.text = tr(title, tensor=self.tensor)
        row, col = np.unravel_index(int(np.argmax(np.abs(matrix))), matrix.shape)
        self.grad_map.update(matrix, [str(i) for i in range(matrix.shape[0])],
                             [str(i) for i in range(matrix.shape[1])], summary=tr(
                                 GRAD_SAY, what=self.grad_map.figure.title.text,
                                 rows=matrix.shape[0], cols=matrix.shape[1],
                                 value=matrix[row, col], row=row, col=col))

    def __panel__(self):
        return self._layout
