"""A heat map of a matrix with a table of the same numbers a click away.

The figure and its ColumnDataSource are built once; `update` feeds new numbers. The
table shares the heat map's source, so both always show the same values.

The lab's two colour maps are here, chosen for every eye (tests/app/test_colours.py checks
them under simulated red-green colour blindness): SEQUENTIAL, cividis, whose lightness rises
evenly and which reads the same to deuteranopes and protanopes; DIVERGING, purple against
orange (never red against green), white at zero. Text written on a coloured cell takes `ink`.
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
from bokeh.palettes import Cividis256, PuOr8, PuOr11
from bokeh.plotting import figure

from app.views.parts.markup import visible
from app.views.parts.picture_or_table import PictureOrTable

DIVERGING = tuple(PuOr11)  # purple negative, white zero, orange positive
DIVERGING_SHADES = tuple(PuOr8)  # the same in eight shades (the static page's snapshot)
SEQUENTIAL = tuple(reversed(Cividis256))  # pale yellow for 0, dark blue for the largest
NAN_COLOUR = "#dee2e6"  # a cell with no number (a masked -inf)
INKS = ("#000000", "#ffffff")  # one of them has at least 4.6:1 contrast on any colour
MAX_TICKS = 40  # label at most this many rows or columns
MAX_X_TICKS = 17  # columns are labelled sideways, so fewer fit


def luminance(colour: str) -> float:
    """WCAG 2's relative luminance of a "#rrggbb" colour: 0 for black, 1 for white."""
    rgb = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)]) / 255
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    return float(linear @ [0.2126, 0.7152, 0.0722])


def contrast(a: str, b: str) -> float:
    """WCAG 2's contrast ratio of two colours, from 1 (the same) to 21 (black on white)."""
    darker, lighter = sorted((luminance(a), luminance(b)))
    return (lighter + 0.05) / (darker + 0.05)


def ink(background: str) -> str:
    """The text colour, black or white, that reads best on `background`."""
    return max(INKS, key=lambda text: contrast(text, background))


def mapped(values: np.ndarray, palette: Sequence[str], low: float, high: float) -> list[str]:
    """The colour of each value as Bokeh's LinearColorMapper draws it (NaN: NAN_COLOUR)."""
    v = np.asarray(values, dtype=np.float64)
    span = high - low if high > low else 1.0
    index = np.clip(np.floor((np.nan_to_num(v, nan=low) - low) / span * len(palette)),
                    0, len(palette) - 1).astype(int)
    return [NAN_COLOUR if np.isnan(x) else palette[i] for x, i in zip(v, index, strict=True)]


def inks(values: np.ndarray, palette: Sequence[str], low: float, high: float) -> list[str]:
    """The text colour for each value's cell (see `ink`)."""
    return [ink(c) for c in mapped(values, palette, low, high)]


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
                                        low=-1, high=1, nan_color=NAN_COLOUR)
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
               high: float | None = None, summary: str = "") -> None:
        """Show `matrix` (rows, cols). Non-finite values (a masked -inf) draw grey.
        `summary`: what it shows, in one sentence (see PictureOrTable)."""
        self.numbers.summary = summary
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
