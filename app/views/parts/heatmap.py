"""A heat map of a matrix with a table of the same numbers a click away.

The figure and its ColumnDataSource are built once; `update` feeds new numbers. The
table shares the heat map's source, so both always show the same values.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import panel as pn
from bokeh.models import (
    ColumnDataSource,
    DataTable,
    FixedTicker,
    HoverTool,
    LinearColorMapper,
    NumberFormatter,
    TableColumn,
)
from bokeh.palettes import Blues256, RdBu11
from bokeh.plotting import figure

from app.views.parts.markup import visible
from app.views.parts.picture_or_table import PictureOrTable

DIVERGING = tuple(reversed(RdBu11))  # blue negative, white zero, red positive
SEQUENTIAL = tuple(reversed(Blues256))  # white for 0, dark blue for the largest
MAX_TICKS = 40  # label at most this many rows or columns
MAX_X_TICKS = 17  # columns are labelled sideways, so fewer fit


def tick_labels(labels: Sequence[str], room: int = MAX_TICKS) -> tuple[list[int], dict[int, str]]:
    """Tick positions and their labels, thinned to at most `room` of them."""
    n = len(labels)
    stride = max(1, -(-n // max(1, room)))
    ticks = list(range(0, n, stride))
    return ticks, {i: visible(labels[i]) for i in ticks}


class Heatmap(pn.viewable.Viewer):
    """rows x cols coloured cells; `alpha` can dim rows or columns that are not in play."""

    def __init__(self, title: str, row_name: str, col_name: str, diverging: bool = True,
                 height: int = 260, **params):
        super().__init__(**params)
        self.diverging = diverging
        self.source = ColumnDataSource(dict(x=[], y=[], value=[], row=[], col=[], alpha=[]))
        self.mapper = LinearColorMapper(palette=DIVERGING if diverging else SEQUENTIAL,
                                        low=-1, high=1, nan_color="#dee2e6")
        self.figure = figure(title=title, height=height, sizing_mode="stretch_width",
                             tools="tap,reset,save", toolbar_location=None,
                             x_axis_label=col_name, y_axis_label=row_name)
        self.figure.rect("x", "y", width=1, height=1, source=self.source, line_color=None,
                         fill_color={"field": "value", "transform": self.mapper},
                         fill_alpha="alpha")
        self.figure.y_range.flipped = True  # row 0 at the top, like a matrix
        self.figure.grid.visible = False
        self.figure.add_tools(HoverTool(tooltips=[(row_name, "@row"), (col_name, "@col"),
                                                  ("value", "@value{0.0000}")]))
        self.x_axis, self.y_axis = self.figure.xaxis[0], self.figure.yaxis[0]
        for axis in (self.x_axis, self.y_axis):
            axis.ticker = FixedTicker(ticks=[])  # `update` feeds it the labelled positions
            axis.major_label_text_font_size = "9pt"
        self.table = DataTable(
            source=self.source, height=height, sizing_mode="stretch_width", index_position=None,
            columns=[TableColumn(field="row", title=row_name),
                     TableColumn(field="col", title=col_name),
                     TableColumn(field="value", title="value",
                                 formatter=NumberFormatter(format="0.0000"))])
        self._shape = None
        self._labels = None
        self.numbers = PictureOrTable(pn.pane.Bokeh(self.figure, sizing_mode="stretch_width"),
                                      pn.pane.Bokeh(self.table, sizing_mode="stretch_width"))

    def update(self, matrix: np.ndarray, row_labels: Sequence[str], col_labels: Sequence[str],
               alpha: np.ndarray | None = None, low: float | None = None,
               high: float | None = None) -> None:
        """Show `matrix` (rows, cols). Non-finite values (a masked -inf) draw grey."""
        m = np.asarray(matrix, dtype=np.float64)
        rows, cols = m.shape
        values = np.where(np.isfinite(m), m, np.nan).ravel()
        alphas = np.ones(rows * cols) if alpha is None else np.broadcast_to(
            alpha, m.shape).ravel().astype(float)
        data = dict(value=values, alpha=alphas)
        labels = ([f"{r}: {visible(x)}" for r, x in enumerate(row_labels)],
                  [f"{c}: {visible(x)}" for c, x in enumerate(col_labels)])
        if labels != self._labels:
            yy, xx = np.divmod(np.arange(rows * cols), cols)
            data |= dict(x=xx, y=yy, row=np.array(labels[0], dtype=object)[yy],
                         col=np.array(labels[1], dtype=object)[xx])
            xt, xl = tick_labels(col_labels, room=MAX_X_TICKS)
            yt, yl = tick_labels(row_labels, room=self.figure.height // 13)
            self.x_axis.ticker.ticks, self.x_axis.major_label_overrides = xt, xl
            self.y_axis.ticker.ticks, self.y_axis.major_label_overrides = yt, yl
            self._labels = labels
        if self._shape != m.shape:
            self.source.data = data  # new columns all at once, so their lengths agree
            self._shape = m.shape
        else:
            self.source.data.update(data)
        finite = values[np.isfinite(values)]
        if low is None or high is None:
            if self.diverging:
                bound = float(np.abs(finite).max()) if finite.size else 1.0
                low, high = -bound or -1.0, bound or 1.0
            else:
                low = float(finite.min()) if finite.size else 0.0
                high = float(finite.max()) if finite.size else 1.0
        self.mapper.update(low=low, high=high if high > low else low + 1e-9)

    def __panel__(self):
        return self.numbers
