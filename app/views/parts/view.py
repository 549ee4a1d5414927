"""What every view is: a Panel Viewer of one LabSession that knows whether it is shown."""

from __future__ import annotations

import panel as pn
import param

from app.session.session import LabSession


class View(pn.viewable.Viewer):
    """A view of the lab. It reads `session` and feeds its own figures; the page sets
    `active` while the view is on screen, and a view with work of its own to do (the
    quantized model) does it only then."""

    session = param.ClassSelector(class_=LabSession, doc="The reader's lab.")
    active = param.Boolean(default=False, doc="Whether the view is on the page.")
