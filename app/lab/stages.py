"""The animation's stages as chips under the transport bar, the one being shown lit, and a
note when the reader's system asks for less motion (the clock then slows, see clock.py)."""

from __future__ import annotations

import panel as pn
import param

from app.lab import page_text as words
from app.lab.assistive import REDUCED_MOTION
from app.session.clock import REDUCED_SPEED
from app.session.session import LabSession
from app.views.parts.markup import esc, html_pane, set_html

MANY = 12  # more stages than this (the examples timeline): only the current one is shown


class StageChips(pn.viewable.Viewer):
    """The clock's stages, in the session's language."""

    session = param.ClassSelector(class_=LabSession)

    def __init__(self, **params):
        super().__init__(**params)
        self._pane = html_pane()
        self._show()

    @param.depends("session.clock.frame", "session.clock.stages",
                   "session.clock.reduced_motion", "session.language", watch=True)
    def _show(self) -> None:
        clock, tr = self.session.clock, self.session.tr
        names = [words.stage_name(tr, name) for name in clock.stages]
        chips = "".join(f'<span class="stage {"active" if i == clock.frame else ""}">'
                        f"{esc(name)}</span>" for i, name in enumerate(names))
        if len(clock.stages) > MANY:
            chips = f'<span class="stage active">{esc(names[clock.frame])}</span>'
        calm = (f"<p class='calm'>{esc(tr(REDUCED_MOTION, seconds=1 / REDUCED_SPEED))}</p>"
                if clock.reduced_motion else "")
        set_html(self._pane, f'<div class="stages">{chips}</div>{calm}')

    def __panel__(self):
        return self._pane
