"""The lab page: prompt, navigation, the animation's transport bar and the chosen view."""

from __future__ import annotations

import logging
import traceback

import panel as pn
import param

from app.keyboard import Keyboard
from app.session import LabSession
from app.views.attention import AttentionView
from app.views.embedding import EmbeddingView
from app.views.examples import ExamplesView
from app.views.layout import wrap_row
from app.views.markup import esc, html_pane, notes, set_html
from app.views.next_token import NextTokenView
from app.views.residual import ResidualView
from app.views.scale import ScaleView
from app.views.tokens import TokensView
from app.views.training import TrainingView

log = logging.getLogger(__name__)

VIEWS = {  # key -> (title, view class, what the clock animates there)
    "tokens": ("Tokens", TokensView, "generate"),
    "examples": ("Training examples", ExamplesView, "examples"),
    "embedding": ("Embedding", EmbeddingView, "generate"),
    "attention": ("Attention", AttentionView, "generate"),
    "residual": ("Residual tracks", ResidualView, "generate"),
    "next": ("Next token", NextTokenView, "generate"),
    "training": ("Training", TrainingView, "train"),
    "scale": ("Scale", ScaleView, "generate"),
}
TAGLINE = ("A GPT small enough to write on a napkin, running live. Type a prompt, pick a view, "
           "and press Play (or the space bar; the arrow keys step).")


class Lab(pn.viewable.Viewer):
    """The whole page for one session; `view` is the view shown."""

    session = param.ClassSelector(class_=LabSession)
    view = param.Selector(default="attention", objects=list(VIEWS))

    def __init__(self, **params):
        super().__init__(**params)
        s = self.session
        self._views: dict[str, pn.viewable.Viewer] = {}
        self._title = pn.pane.HTML(sizing_mode="stretch_width")
        self._shown = pn.Column(sizing_mode="stretch_width")
        self._nav = {key: pn.widgets.Button(label=title, color="light", margin=(2, 3))
                     for key, (title, _, _) in VIEWS.items()}
        for key, button in self._nav.items():
            button.on_click(lambda _, key=key: setattr(self, "view", key))
        prompt = pn.widgets.TextAreaInput.from_param(
            s.param.prompt, label="Prompt", height=80, sizing_mode="stretch_width",
            max_length=20_000)
        self._notes = html_pane()
        self._stage = html_pane()
        clock = s.clock
        play = pn.widgets.Toggle.from_param(clock.param.playing, label="▶ Play / ❚❚ Pause",
                                            color="primary", width=150)
        back = pn.widgets.Button(label="‹", width=45, description="Back one stage (←)")
        back.on_click(lambda _: clock.back())
        step = pn.widgets.Button(label="›", width=45, description="Forward one stage (→)")
        step.on_click(lambda _: self._step())
        speed = pn.widgets.FloatSlider.from_param(clock.param.speed, label="Speed (steps/s)",
                                                  width=180)
        timeline = pn.widgets.IntSlider.from_param(clock.param.frame, label="Timeline",
                                                   width=260)
        self.keyboard = Keyboard()
        self.keyboard.param.watch(self._key, "presses")
        self._layout = pn.Column(
            html_pane("<h1 style='margin:0.2rem 0'>Napkin GPT</h1>"
                      f"<p class='explain'>{esc(TAGLINE)}</p>"),
            prompt, self._notes,
            wrap_row(*self._nav.values()),
            wrap_row(back, play, step, speed, timeline),
            self._stage, self._title, self._shown, self.keyboard,
            html_pane(f"<p class='explain'>{s.config.n_params:,} parameters: "
                      f"{s.config.n_layer} blocks of {s.config.n_head} heads, width "
                      f"{s.config.n_embd}, context {s.config.block_size}. The same NumPy code "
                      "runs here and in the downloadable engine.</p>"),
            sizing_mode="stretch_width", styles={"max-width": "1200px", "margin": "0 auto"})
        if pn.state.curdoc is not None:
            pn.config.exception_handler = self._show_error  # per session when in a session
        self._show_view()
        self._show_notes()
        self._show_stage()

    def _step(self) -> None:
        self.session.clock.playing = False
        self.session.clock.tick()

    def _key(self, event) -> None:
        clock = self.session.clock
        match self.keyboard.key:
            case " ":
                clock.toggle()
            case "ArrowRight":
                self._step()
            case "ArrowLeft":
                clock.back()

    def _show_error(self, exception: BaseException) -> None:
        """A failed callback: the reader gets one plain sentence, the log the traceback."""
        log.error("callback failed:\n%s", "".join(traceback.format_exception(exception)))
        self.session.clock.playing = False
        self.session.message = (f"Something went wrong ({type(exception).__name__}: "
                                f"{exception}). The lab is still usable.")

    @param.depends("view", watch=True)
    def _show_view(self) -> None:
        title, cls, mode = VIEWS[self.view]
        with pn.io.hold():  # the whole switch reaches the browser as one message
            if self.view not in self._views:
                self._views[self.view] = cls(session=self.session)
            for key, button in self._nav.items():
                button.color = "primary" if key == self.view else "light"
            self.session.mode = mode
            self._title.object = f"<h2 style='margin:0.3rem 0'>{esc(title)}</h2>"
            self._shown.objects = [self._views[self.view]]

    @param.depends("session.prompt_notes", "session.message", watch=True)
    def _show_notes(self) -> None:
        s = self.session
        kind = "error" if "wrong" in s.message or "diverged" in s.message else ""
        set_html(self._notes, notes(s.prompt_notes) + notes([s.message], kind))

    @param.depends("session.clock.frame", "session.clock.stages", watch=True)
    def _show_stage(self) -> None:
        clock = self.session.clock
        chips = "".join(f'<span class="stage {"active" if i == clock.frame else ""}">'
                        f"{esc(name)}</span>" for i, name in enumerate(clock.stages))
        if len(clock.stages) > 12:  # the examples timeline: just say where we are
            chips = f'<span class="stage active">{esc(clock.stage)}</span>'
        set_html(self._stage, f'<div class="stages" aria-live="polite">{chips}</div>')

    def __panel__(self):
        return self._layout
