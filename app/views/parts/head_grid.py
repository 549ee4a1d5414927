"""Head roles as a block x head grid for each role (previous token, induction), side by side
in one figure, each cell a head with its score written in it, and a table of the same
numbers a click away.

The figure and its ColumnDataSource are built once; they follow the HeadRoles they are
given. With `clickable`, clicking a cell opens that head (the session's block and head),
which the attention view above it then draws.
"""

from __future__ import annotations

import numpy as np
import panel as pn
import param
from bokeh.models import ColumnDataSource, FactorRange, HoverTool, LinearColorMapper
from bokeh.plotting import figure

from app.i18n import N_
from app.session.heads import HeadRoles
from app.views.parts.heatmap import NAN_COLOUR, SEQUENTIAL, inks
from app.views.parts.markup import esc, html_pane, set_html, table_html, visible
from app.views.parts.picture_or_table import PictureOrTable

ROLES = {"previous": N_("previous token"), "induction": N_("induction")}
CELL = 34  # pixels per block row
MEASURED_RANDOM = N_("Measured on a random sequence of {n} distinct characters, then the same "
                     "again: {seq} twice{trained}.")
MEASURED_PROMPT = N_("Measured on the prompt ({n} tokens){trained}.")
AFTER_STEPS = N_(" after {steps:,} training steps")
ROLE_SAY = N_("The strongest {role} head: block {block}, head {head} ({score:.2f}).")


class HeadGrid(pn.viewable.Viewer):
    """Every head's previous-token and induction score, drawn from a HeadRoles."""

    roles = param.ClassSelector(class_=HeadRoles, doc="The scores to draw.")
    clickable = param.Boolean(default=False, doc="Whether clicking a head opens it.")

    def __init__(self, **params):
        super().__init__(**params)
        cfg = self.roles.session.config
        self.source = ColumnDataSource(dict(x=[], y=[], score=[], label=[], head=[],
                                            text_color=[]))
        self.figure = self._figure(cfg.n_layer, cfg.n_head)
        self._caption = html_pane()
        self._table = html_pane()
        self.numbers = PictureOrTable(pn.pane.Bokeh(self.figure, sizing_mode="stretch_width"),
                                      self._table)
        self._layout = pn.Column(self._caption, self.numbers, sizing_mode="stretch_width")
        self._draw()

    def _figure(self, n_layer: int, n_head: int):
        mapper = LinearColorMapper(palette=SEQUENTIAL, low=0.0, high=1.0, nan_color=NAN_COLOUR)
        fig = figure(title=N_("Score of each head for each role (0 to 1)"),
                     height=80 + CELL * n_layer, sizing_mode="stretch_width", min_width=200,
                     max_width=760, toolbar_location=None,
                     tools="tap" if self.clickable else "",
                     x_range=FactorRange(*[(title, f"h{h}") for title in ROLES.values()
                                           for h in range(n_head)], group_padding=0.6),
                     y_range=[f"block {i}" for i in reversed(range(n_layer))])
        cells = fig.rect("x", "y", width=0.95, height=0.9, source=self.source,
                         fill_color={"field": "score", "transform": mapper}, line_color=None,
                         nonselection_fill_alpha=1.0, selection_line_color="#d9480f",
                         selection_line_width=3)
        fig.text("x", "y", text="label", source=self.source, text_align="center",
                 text_baseline="middle", text_font_size="9pt", text_color="text_color",
                 nonselection_text_alpha=1.0)
        fig.add_tools(HoverTool(renderers=[cells], tooltips=[("head", "@head"),
                                                             ("score", "@label")]))
        fig.grid.visible = False
        fig.axis.major_tick_line_color = None
        fig.axis.axis_line_color = None
        fig.xaxis.group_text_font_size = "10pt"
        if self.clickable:
            self.source.selected.on_change("indices", self._open_head)
        return fig

    def _fit(self, n_layer: int, n_head: int) -> None:
        """The grid's rows and columns for a model of another shape (a file opened)."""
        fig = self.figure
        rows = [f"block {i}" for i in reversed(range(n_layer))]
        if list(fig.y_range.factors) != rows or len(fig.x_range.factors) != len(ROLES) * n_head:
            fig.x_range.factors = [(title, f"h{h}") for title in ROLES.values()
                                   for h in range(n_head)]
            fig.y_range.factors = rows
            fig.height = 80 + CELL * n_layer

    def _open_head(self, attr, old, new) -> None:
        if new:
            n_layer, n_head = self.roles.session.config.n_layer, self.roles.session.config.n_head
            layer, head = divmod(int(new[0]) % (n_layer * n_head), n_head)
            self.roles.session.param.update(layer=layer, head=head)

    @param.depends("roles.scores", "roles.note", "roles.session.layer",
                   "roles.session.head", "roles.session.language", watch=True)
    def _draw(self) -> None:
        roles, s = self.roles, self.roles.session
        scores = roles.scores
        if scores is None:
            set_html(self._caption, f"<p class='explain'>{esc(roles.note)}</p>")
            self.source.data = dict(x=[], y=[], score=[], label=[], head=[], text_color=[])
            set_html(self._table, "")
            self.numbers.summary = ""
            return
        n_layer, n_head = scores.previous.shape
        self._fit(n_layer, n_head)
        blocks, heads = np.divmod(np.arange(n_layer * n_head), n_head)
        values = np.concatenate([getattr(scores, role).ravel() for role in ROLES])
        self.source.data = dict(
            x=[(title, f"h{h}") for title in ROLES.values() for h in heads],
            y=[f"block {b}" for _ in ROLES for b in blocks],
            score=values,
            head=[f"block {b}, head {h}, {title}" for title in ROLES.values()
                  for b, h in zip(blocks, heads, strict=True)],
            label=["–" if np.isnan(v) else f"{v:.2f}" for v in values],
            text_color=inks(values, SEQUENTIAL, 0.0, 1.0))
        if self.clickable:  # the open head, outlined in both grids
            cell = s.layer * n_head + s.head
            self.source.selected.indices = [cell, cell + n_layer * n_head]
        set_html(self._caption, self._describe(scores))
        set_html(self._table, self._numbers(scores))
        self.numbers.summary = " ".join(self._strongest(s.tr, scores, role) for role in ROLES)

    def _describe(self, scores) -> str:
        roles, s = self.roles, self.roles.session
        seq = "".join(visible(p) for p in s.pieces(scores.idx[:len(scores.idx) // 2]))
        trained = (s.tr(AFTER_STEPS, steps=roles.measured_at) if roles.measured_at else "")
        if roles.source == "random":  # the catalogue's templates are markup; values escaped
            said = s.tr(MEASURED_RANDOM, n=len(scores.idx) // 2, seq=f"<code>{esc(seq)}</code>",
                        trained=trained)
        else:
            said = s.tr(MEASURED_PROMPT, n=len(scores.idx), trained=trained)
        note = f" {esc(roles.note)}" if roles.note else ""
        return f"<p class='explain'>{said}{note}</p>"

    @staticmethod
    def _strongest(tr, scores, role: str) -> str:
        values = getattr(scores, role)
        if np.isnan(values).all():
            return ""
        block, head = np.unravel_index(int(np.nanargmax(values)), values.shape)
        return tr(ROLE_SAY, role=tr(ROLES[role]), block=block, head=head,
                               score=values[block, head])

    def _numbers(self, scores) -> str:
        n_layer, n_head = scores.previous.shape
        rows = [(b, h, self._cell(scores.previous[b, h]), self._cell(scores.induction[b, h]))
                for b in range(n_layer) for h in range(n_head)]
        return table_html(["block", "head", "previous token", "induction"], rows)

    @staticmethod
    def _cell(value: float) -> str:
        return "–" if np.isnan(value) else f"{value:.3f}"

    def __panel__(self):
        return self._layout
