"""Layouts that fit any screen: side by side when wide, stacked on a 375 px phone."""

from __future__ import annotations

import panel as pn

FIGURE_GRID = (":host { display: grid !important; gap: 6px 10px; "
               "grid-template-columns: repeat(auto-fill, minmax(min(100%, {min}px), 1fr)); }")


def wrap_row(*objects, **params) -> pn.FlexBox:
    """Widgets in a row that wraps onto new lines when the page is narrow."""
    params.setdefault("sizing_mode", "stretch_width")
    return pn.FlexBox(*objects, **params)


def figure_grid(*objects, min_width: int = 320, **params) -> pn.Column:
    """Figures in as many columns as fit, each at least `min_width` pixels wide.

    A CSS grid on a Column, not a FlexBox: Bokeh figures inside Panel's FlexBox never
    report that they finished rendering, so the page would never count as loaded.
    """
    params.setdefault("sizing_mode", "stretch_width")
    sheet = FIGURE_GRID.replace("{min}", str(min_width))
    return pn.Column(*objects, stylesheets=[sheet], **params)


# A number field's up and down buttons, each at least 24 px high (WCAG 2.2's target size):
# BokehJS makes each half of the field's height.
ROOMY_SPINNER = ".bk-input { min-height: 48px; }"

# The code editor's line numbers, dark enough to read (4.5:1 and more on white).
READABLE_GUTTER = ".ace_gutter { color: #5c636a !important; }"
