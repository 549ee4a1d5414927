"""What a screen reader is told as the lab changes: a generated token, a finished training
step. Said politely (after what the reader is hearing) and not on every frame: while the
animation plays, at most once every ANNOUNCE_EVERY seconds; a step taken by hand, always."""

from __future__ import annotations

import time

import panel as pn
import param

from app.i18n import N_
from app.lab.assistive import LiveRegion
from app.session.session import LabSession
from app.views.parts.markup import visible

ANNOUNCE_EVERY = 5.0  # seconds between announcements while the animation plays
GENERATED = N_("Generated {piece!r}, probability {probability:.2f}.")
TRAINED = N_("Training step {step}: loss {loss:.3f}.")


class Announcer(pn.viewable.Viewer):
    """The page's one live region, fed from the session's generated tokens and training."""

    session = param.ClassSelector(class_=LabSession, doc="The reader's lab.")

    def __init__(self, **params):
        super().__init__(**params)
        self.region = LiveRegion()
        self.now = time.monotonic  # seconds, for the pauses between announcements
        self._said_at = -float("inf")

    @param.depends("session.sampled", watch=True)
    def _generated(self) -> None:
        sampled = self.session.sampled
        if sampled is not None:
            self._say(self.session.tr(GENERATED, piece=visible(sampled.piece),
                                       probability=sampled.prob))

    @param.depends("session.training.train_step", watch=True)
    def _trained(self) -> None:
        report = self.session.training.train_step
        if report is not None and hasattr(report, "updates"):  # a finished step
            self._say(self.session.tr(TRAINED, step=report.step + 1, loss=report.loss))

    def _say(self, message: str) -> None:
        s = self.session
        playing = s.clock.playing or s.training.clock.playing
        now = self.now()
        if playing and now - self._said_at < ANNOUNCE_EVERY:
            return
        self._said_at = now
        self.region.message = message

    def __panel__(self):
        return self.region
