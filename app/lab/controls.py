"""The page's controls (the prompt, the list of views, the animation's transport bar and its
stages), folded behind one button on a phone so that the first screen shows the picture.

A wide screen always shows them and hides the button: the width decides, in CSS, so the
page needs no script to know it and never shows the wrong layout first.
"""

from __future__ import annotations

import panel as pn
import param

from app.i18n import N_

NARROW = 720  # pixels: at most this wide, the controls fold away
FOLDS = f"@media (max-width: {NARROW}px) {{ :host(.folded) {{ display: none !important; }} }}"
WIDE_HIDES = f"@media (min-width: {NARROW + 1}px) {{ :host {{ display: none !important; }} }}"
TAP = ".bk-btn { min-height: 44px; font-size: 1rem; }"  # a finger's size
LABEL = N_("☰ Controls")


class Controls(pn.viewable.Viewer):
    """`parts` in a fold, and the button that opens it on a narrow screen."""

    open = param.Boolean(default=False, doc="Whether the fold is open on a narrow screen.")

    def __init__(self, parts: list, **params):
        super().__init__(**params)
        self.toggle = pn.widgets.Toggle.from_param(
            self.param.open, label=LABEL, width=130, visible=bool(parts),
            stylesheets=[TAP, WIDE_HIDES])
        self.fold = pn.Column(*parts, sizing_mode="stretch_width", stylesheets=[FOLDS])
        self._fold()

    @param.depends("open", watch=True)
    def _fold(self) -> None:
        self.fold.css_classes = ["controls"] if self.open else ["controls", "folded"]

    def __panel__(self):
        return self.fold
