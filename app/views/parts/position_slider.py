"""The token-position slider: which token of the prompt the views look at.

One position for the whole lab, the session's `query`: moving the slider chooses it (through
`session.choose_position`, so that the last token stays "the last" as the prompt grows), and
the slider follows it when something else moves it (a click on a token, a new prompt, a
slider in another view). It follows only while its view is shown (`active`), and catches up
when shown again.
"""

from __future__ import annotations

import panel as pn
import param

from app.session.session import LabSession


class PositionSlider(pn.viewable.Viewer):
    """A slider over the prompt's tokens, bound to the session's chosen position."""

    session = param.ClassSelector(class_=LabSession, doc="The reader's lab.")
    label = param.String(default="Token", doc="The slider's label.")
    width = param.Integer(default=220, doc="The slider's width in pixels.")
    active = param.Boolean(default=False, allow_refs=True,
                           doc="Follow the session only while True (the owning view is shown).")

    def __init__(self, **params):
        super().__init__(**params)
        self.slider = pn.widgets.IntSlider(label=self.label, start=0, width=self.width,
                                           **self._range())
        self.slider.param.watch(lambda e: self.session.choose_position(e.new), "value")

    def _range(self) -> dict:
        s = self.session
        return dict(end=max(1, len(s.ids) - 1), value=s.query_position)

    @param.depends("active", "session.ids", "session.query", watch=True)
    def _follow(self) -> None:
        if self.active:
            self.slider.param.update(**self._range())

    def __panel__(self):
        return self.slider
