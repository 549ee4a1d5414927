"""The logit lens kept up to date: the session's trace decoded at every depth, for the
chosen position.

Views read a LogitLens and never run a model. It needs no extra forward pass: the stream
after every sub-block is in the trace already, and decoding it is one LayerNorm and one
product with wte per depth. It works only while `active` (its view is shown) and catches
up when it becomes active again.
"""

from __future__ import annotations

import param

from app.session.session import LabSession


class LogitLens(param.Parameterized):
    """The session's residual stream at the chosen position, decoded at every depth."""

    session = param.ClassSelector(class_=LabSession, doc="The reader's lab.")
    active = param.Boolean(default=False, allow_refs=True,
                           doc="Compute only while True; a view passes its own `active`.")
    reading = param.Parameter(precedence=-1, doc="The latest engine LensReading.")

    def __init__(self, **params):
        super().__init__(**params)
        self._key = None
        self._refresh()

    @param.depends("active", "session.trace", "session.query", watch=True)
    def _refresh(self) -> None:
        s = self.session
        key = (s.trace, s.query_position)
        if not self.active or key == self._key:
            return
        self._key = key
        lens = s.engine.lens
        self.reading = lens.logit_lens(s.trace, s.model.params, s.query_position)
