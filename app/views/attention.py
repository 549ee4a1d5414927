"""Attention: how each token looks back at the ones before it, one head at a time.

    scores = q kᵀ / √d  ->  causal mask (no peeking ahead)  ->  softmax  ->  weights · v
"""

from __future__ import annotations

import numpy as np
import panel as pn
import param
from bokeh.models import ColumnDataSource, HoverTool, Range1d
from bokeh.plotting import figure

from app.i18n import N_
from app.session.heads import SOURCES, HeadRoles
from app.views.parts.comparison import AttentionComparison
from app.views.parts.head_grid import HeadGrid
from app.views.parts.heatmap import Heatmap
from app.views.parts.layout import figure_grid, wrap_row
from app.views.parts.markup import esc, html_pane, set_html, table_html, visible
from app.views.parts.position_slider import PositionSlider
from app.views.parts.view import View

EXPLAIN = N_(
    "Each token asks a question (its query q) and every earlier token offers an answer key k. "
    "Their dot products, scaled by √d, are the scores; the causal mask hides the future.")
EXPLAIN_MORE = N_(
    "A softmax turns each row into weights that sum to 1, and the head's output is the "
    "weighted sum of the value vectors v. Pick a token (click it on the left, or use the "
    "slider) to see what it attends to; switch heads off to see what the prediction "
    "loses without them.")
ROLES_EXPLAIN = N_(
    "Some heads take on a job. A <b>previous-token</b> head looks at the token just before "
    "its own. An <b>induction</b> head finds an earlier copy of its own token and looks at "
    "what came next, so the model can copy it again: after <i>… A B … A</i> it predicts "
    "<i>B</i>. Each score is the attention weight a head puts where that job would look, "
    "averaged over the tokens that have such a place: 1 is the pattern exactly, 0 never. "
    "They are measured on random characters repeated twice, which only copying can predict "
    "(or on your prompt). Click a head to open it above; switch heads off to see what later "
    "heads lose.")
ROW_HEIGHT = 15
# what each picture shows now, in words (its text alternative)
SCORES_SAY = N_("Scores (block {layer}, head {head}): token {position} {piece} scores "
                "{key_piece} at {key} highest ({value:.2f}).")
MASKED_SAY = N_("The same scores with the future hidden: token {position} {piece} sees "
                "tokens 0 to {position} only.")
WEIGHTS_SAY = N_("Weights (block {layer}, head {head}): token {position} {piece} puts most "
                 "weight on {key_piece} at {key} ({value:.2f}).")
OUTPUT_SAY = N_("Head output of token {position} {piece}: {dims} numbers, the largest "
                "{value:+.2f} in dimension {dim}.")


class AttentionView(View):
    roles = param.ClassSelector(class_=HeadRoles, doc="Every head's role scores; made for "
                                                      "the session if not given.")

    def __init__(self, **params):
        if params.get("roles") is None:
            params["roles"] = HeadRoles(session=params["session"])
        params["roles"].active = True  # catch up before the grid below is drawn
        super().__init__(**params)
        s = self.session
        cfg = s.config
        self.position = PositionSlider(session=s, label=N_("Token (query position)"),
                                       active=self.param.active)
        selectors = wrap_row(
            pn.widgets.IntSlider.from_param(s.param.layer, label=N_("Block"), width=160),
            pn.widgets.IntSlider.from_param(s.param.head, label=N_("Head"), width=160),
            self.position)
        query, key = N_("query"), N_("key")
        self.scores = Heatmap(N_("1. scores q·kᵀ/√d"), query, key, height=240)
        self.masked = Heatmap(N_("2. causal mask"), query, key, height=240)
        self.weights = Heatmap(N_("3. softmax: weights"), query, key, diverging=False,
                               height=240)
        self.output = Heatmap(N_("4. weights · v: head output"), query, N_("dimension"),
                              height=240)
        steps = figure_grid(self.scores, self.masked, self.weights, self.output)

        self.lines_source = ColumnDataSource(dict(x0=[], y0=[], x1=[], y1=[], weight=[],
                                                  width=[], key=[]))
        self.tokens_source = ColumnDataSource(dict(x=[], y=[], text=[], color=[]))
        self.lines = figure(height=300, sizing_mode="stretch_width", max_width=520,
                            toolbar_location=None, tools="tap", x_range=Range1d(-0.6, 1.6),
                            title=N_("What the chosen token looks at (line width = weight)"))
        segments = self.lines.segment("x0", "y0", "x1", "y1", source=self.lines_source,
                                      line_width="width", line_alpha=0.75, color="#d9480f")
        self.lines.add_tools(HoverTool(renderers=[segments],
                                       tooltips=[(key, "@key"), (N_("weight"), "@weight{0.000}")]))
        self.lines.text("x", "y", text="text", source=self.tokens_source, text_color="color",
                        text_align="center", text_baseline="middle", text_font_size="11pt")
        self.pick_source = ColumnDataSource(dict(x=[], y=[]))
        self.lines.rect("x", "y", width=0.5, height=1, source=self.pick_source, fill_alpha=0,
                        line_alpha=0, nonselection_fill_alpha=0, selection_fill_alpha=0.1)
        self.pick_source.selected.on_change("indices", self._tap_query)
        self.lines.y_range.flipped = True
        self.lines.axis.visible = False
        self.lines.grid.visible = False

        self.switches = pn.Column(sizing_mode="stretch_width")
        self._switch_groups = []
        self._build_switches(cfg.n_layer, cfg.n_head)
        self._effect = html_pane()
        self._caption = html_pane()
        self.grid = HeadGrid(roles=self.roles, clickable=True)
        self.compare = AttentionComparison(session=s, active=self.param.active)
        measured_on = pn.widgets.RadioButtonGroup.from_param(
            self.roles.param.source, options={v: k for k, v in SOURCES.items()},
            color="primary", variant="outline")
        self._layout = self._arrange(
            intro=[self.explain(EXPLAIN, EXPLAIN_MORE)], steps=[steps],
            controls=[selectors, self._caption],
            lines=[pn.pane.Bokeh(self.lines, sizing_mode="stretch_width")],
            switches=[pn.pane.HTML(N_("<b>Heads on (filled) and off:</b> click to switch a head"),
                                   sizing_mode="stretch_width"), self.switches, self._effect],
            compare=[self.compare],
            roles_about=[pn.pane.HTML(N_("<h3 style='margin:0.6rem 0 0'>Head roles</h3>"),
                                      sizing_mode="stretch_width"), self.explain(ROLES_EXPLAIN)],
            roles=[self.grid, wrap_row(pn.pane.HTML(N_("Measured on:"), width=100), measured_on)])
        self._update()
        self._show_effect()
        self.roles.active = self.param.active  # from now on, scored only while shown

    def _build_switches(self, n_layer: int, n_head: int) -> None:
        """A row of head switches per block (again when a model of another shape opens)."""
        self._switch_groups = []
        rows = []
        for layer in range(n_layer):
            group = pn.widgets.CheckButtonGroup(
                label=f"block {layer}", options={f"{layer}.{h}": h for h in range(n_head)},
                value=list(range(n_head)), color="primary", variant="outline")
            group.param.watch(lambda e, layer=layer: self._switch(layer, e.new), "value")
            self._switch_groups.append(group)
            rows.append(pn.Row(pn.pane.HTML(self.session.tr("block {layer}", layer=layer),
                                            width=60), group))
        self.switches.objects = rows

    # ---- reader actions -------------------------------------------------------------------

    def _tap_query(self, attr, old, new) -> None:
        if new:
            self.session.choose_position(int(new[0]))

    def _switch(self, layer: int, heads_on: list[int]) -> None:
        s = self.session
        others = [tuple(p) for p in s.heads_off if p[0] != layer]
        s.heads_off = others + [(layer, h) for h in range(s.config.n_head) if h not in heads_on]

    # ---- drawing ----------------------------------------------------------------------------

    @param.depends("session.trace", "session.layer", "session.head", "session.query",
                   "session.language", watch=True)
    def _update(self) -> None:
        s = self.session
        block = s.trace.blocks[s.layer]
        h = s.head
        labels = s.pieces(s.ids)
        T = len(labels)
        q = s.query_position
        rows = np.full((T, 1), 0.35)
        rows[q] = 1.0  # the chosen query's row stands out
        said = dict(layer=s.layer, head=h, position=q, piece=repr(visible(labels[q])))
        scores, att, out = block.scores[0, h, q, :q + 1], block.att[0, h, q, :q + 1], \
            block.heads[0, h, q]
        k, key, dim = int(np.argmax(scores)), int(np.argmax(att)), int(np.argmax(np.abs(out)))
        tr = self.session.tr
        self.scores.update(block.scores[0, h], labels, labels, alpha=rows,
                           summary=tr(SCORES_SAY, **said, key=k, value=scores[k],
                                      key_piece=repr(visible(labels[k]))))
        self.masked.update(block.masked_scores[0, h], labels, labels, alpha=rows,
                           summary=tr(MASKED_SAY, **said))
        self.weights.update(block.att[0, h], labels, labels, alpha=rows, low=0.0, high=1.0,
                            summary=tr(WEIGHTS_SAY, **said, key=key, value=att[key],
                                       key_piece=repr(visible(labels[key]))))
        dims = [str(i) for i in range(block.heads.shape[-1])]
        self.output.update(block.heads[0, h], labels, dims, alpha=rows,
                           summary=tr(OUTPUT_SAY, **said, dims=len(dims), value=out[dim],
                                      dim=dim))

        weights = block.att[0, h, q, :q + 1]
        self.lines.height = max(200, 40 + ROW_HEIGHT * T)
        self.lines_source.data = dict(
            x0=np.zeros(q + 1), y0=np.full(q + 1, q), x1=np.ones(q + 1), y1=np.arange(q + 1),
            weight=weights, width=0.5 + 10 * weights,
            key=[f"{k}: {visible(labels[k])}" for k in range(q + 1)])
        shown = [visible(p) for p in labels]
        self.tokens_source.data = dict(
            x=[-0.15] * T + [1.15] * T, y=list(range(T)) * 2, text=shown * 2,
            color=["#1971c2" if i == q else "#343a40" for i in range(T)] + ["#343a40"] * T)
        self.pick_source.data = dict(x=[-0.15] * T, y=list(range(T)))
        top = np.argsort(-weights)[:3]
        looks = ", ".join(s.tr("{piece} at {k} ({weight:.2f})", piece=repr(visible(labels[k])),
                               k=k, weight=weights[k]) for k in top)
        set_html(self._caption, "<p>" + esc(s.tr(
            "Block {layer}, head {head}: token {q} {piece} attends most to {looks}.",
            layer=s.layer, head=h, q=q, piece=repr(visible(labels[q])), looks=looks)) + "</p>")

    @param.depends("session.baseline_probs", "session.next_probs", "session.language",
                   watch=True)
    def _show_effect(self) -> None:
        s = self.session
        c = s.config
        if [len(g.options) for g in self._switch_groups] != [c.n_head] * c.n_layer:
            self._build_switches(c.n_layer, c.n_head)
        for layer, row in enumerate(self.switches):  # its name, in the reader's language
            row[0].object = s.tr("block {layer}", layer=layer)
        for layer, group in enumerate(self._switch_groups):
            on = [hd for hd in range(s.config.n_head) if (layer, hd) not in
                  {tuple(p) for p in s.heads_off}]
            if group.value != on:
                group.value = on
        if s.baseline_probs is None:
            set_html(self._effect, "<p>" + esc(s.tr("All heads are on.")) + "</p>")
            return
        now = s.trace.probs[0, -1]
        base = s.baseline_probs
        top = np.argsort(-base)[:6]
        tr = s.tr
        rows = [(repr(visible(s.pieces([i])[0])), tr.number(base[i], ".3f"),
                 tr.number(now[i], ".3f"), tr.number(now[i] - base[i], "+.3f")) for i in top]
        said = tr("{n} head(s) off. Next-token probabilities (temperature 1):",
                  n=len(s.heads_off))
        set_html(self._effect, f"<p>{esc(said)}</p>" + table_html(
            [tr("token"), tr("all heads"), tr("now"), tr("change")], rows))

    def __panel__(self):
        return self._layout
