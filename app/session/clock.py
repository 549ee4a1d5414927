"""The animation clock: a position on a timeline of stages, and play/pause at a speed.

The clock only keeps time. Whoever owns it (the session) gives it the stages and the
function to call on each tick; Play starts a periodic callback for this browser session,
Pause stops it. `fastest` ticks again as soon as the last tick is done.

A reader whose system asks for less motion (`reduced_motion`, which the page reports) gets a
slower animation: at most REDUCED_SPEED ticks a second, unless they ask for `fastest`. Stepping
by hand is the same for everyone.

Every tick ends by yielding to the event loop. In the browser Python shares its worker with
the messages from the page: a tick that took longer than the period would otherwise start
the next one at once, and Pause would never get through. An animation's tick then waits
until the page has drawn it (`pace`); a tick that returns False does not wait: training,
which keeps stepping while the page draws, and draws only when the page is ready for
another picture (`page_ready`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import panel as pn
import param

from app.i18n import N_

TRAIN_PHASES = ("batch", "forward", "loss", "backward", "update")
REDUCED_SPEED = 0.5  # ticks per second at most while the reader asks for less motion


class Clock(param.Parameterized):
    """Play / pause / step / scrub over `stages`; `frame` is the current stage's index."""

    playing = param.Boolean(default=False, doc="Whether the clock ticks on its own.")
    speed = param.Number(default=2.0, bounds=(0.5, 20.0), step=0.5, allow_refs=True,
                         doc="Ticks per second while playing.")
    fastest = param.Boolean(default=False, allow_refs=True,
                            doc="Tick as fast as the ticks can run.")
    reduced_motion = param.Boolean(default=False, allow_refs=True, doc=(
        "Whether the reader asks for less motion: playing then ticks at most REDUCED_SPEED "
        "times a second (unless `fastest`)."))
    frame = param.Integer(default=0, bounds=(0, 0), doc="Index of the current stage.")
    stages = param.List(default=["start"], item_type=str, precedence=-1,
                        doc="The names of the timeline's stages, in order.")

    def __init__(self, on_tick: Callable[[], bool | None], **params):
        """on_tick: one tick; it returns False if the next tick need not wait for the page."""
        super().__init__(**params)
        self._on_tick = on_tick
        self._callback = None
        # How the page that shows the lab is doing; the static page sets both (by default
        # there is no page to wait for). `pace` is awaited after a tick, until the page has
        # drawn it, so that ticks never outrun the browser; `page_ready` says whether the
        # page can take another picture now.
        self.pace: Callable[[], Awaitable] = lambda: asyncio.sleep(0)
        self.page_ready: Callable[[], bool] = lambda: True
        self._set_bounds()

    @property
    def stage(self) -> str:
        return self.stages[self.frame]

    def tick(self) -> bool | None:
        """One step of the animation, exactly what a tick of the running clock does."""
        return self._on_tick()

    def toggle(self) -> None:
        self.playing = not self.playing

    def back(self) -> None:
        """Scrub one stage back (the keyboard's left arrow)."""
        self.playing = False
        self.frame = max(0, self.frame - 1)

    @param.depends("stages", watch=True)
    def _set_bounds(self) -> None:
        self.param.frame.bounds = (0, len(self.stages) - 1)
        self.frame = min(self.frame, len(self.stages) - 1)

    @param.depends("playing", watch=True)
    def _start_or_stop(self) -> None:
        if self.playing and self._callback is None:
            self._callback = pn.state.add_periodic_callback(self._tick_safely, self._period())
        elif not self.playing and self._callback is not None:
            self._callback.stop()
            self._callback = None

    @param.depends("speed", "fastest", "reduced_motion", watch=True)
    def _change_period(self) -> None:
        if self._callback is not None:
            self._callback.period = self._period()

    def _period(self) -> int:
        if self.fastest:
            return 1
        speed = min(self.speed, REDUCED_SPEED) if self.reduced_motion else self.speed
        return max(40, round(1000 / speed))

    async def _tick_safely(self) -> None:
        try:
            waits = self.tick() is not False
        except Exception:
            self.playing = False  # a failing tick must not fire again and again
            raise
        # let the page's messages in (Pause, a slider) before the next tick
        await (self.pace() if waits else asyncio.sleep(0))


def timeline(mode: str, n_layer: int, block_size: int) -> list[str]:
    """The stages of the clock in `mode` (names the page translates as it shows them)."""
    if mode == "generate":
        layers = [f"block {i} {part}" for i in range(n_layer) for part in ("attention", "MLP")]
        return ["tokens", "embedding", *layers, "logits", "sample"]
    if mode == "examples":
        return [f"example {t + 1}" for t in range(block_size)]
    return list(TRAIN_PHASES)


# the stages' names in the reader's language, by name or by kind (as `timeline` makes them)
STAGES = {"tokens": N_("tokens"), "embedding": N_("embedding"), "logits": N_("logits"),
          "sample": N_("sample"), "batch": N_("batch"), "forward": N_("forward"),
          "loss": N_("loss"), "backward": N_("backward"), "update": N_("update"),
          "attention": N_("block {i} attention"), "MLP": N_("block {i} MLP"),
          "example": N_("example {i}")}


def stage_name(tr, stage: str) -> str:
    """A stage of `timeline` in the reader's language."""
    kind, *rest = stage.split()
    if kind in ("block", "example"):
        return tr(STAGES[rest[-1] if kind == "block" else kind], i=int(rest[0]))
    return tr(STAGES.get(stage, stage))
