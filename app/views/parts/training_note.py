"""The note the page shows above every view but Training while the model trains: training
goes on, and the view shows the model as it is now."""

from __future__ import annotations

import panel as pn
import param

from app.session.session import LabSession
from app.views.parts.markup import esc, html_pane, set_html

PLAY_ANIMATES = {"generate": "the model writing, stage by stage and token by token",
                 "examples": "the window sliding over the text"}


class TrainingNote(pn.viewable.Viewer):
    """While training plays outside the Training view: the step it is at, what the view
    shows, what Play does here, and a button that pauses training."""

    session = param.ClassSelector(class_=LabSession, doc="The reader's lab.")

    def __init__(self, **params):
        super().__init__(**params)
        self._text = html_pane()
        pause = pn.widgets.Button(label="❚❚ Pause training", width=160, align="center",
                                  description="Stop training (it goes on in every view "
                                              "until you do)")
        pause.on_click(lambda _: self.session.training.pause())
        self._layout = pn.Row(self._text, pause, sizing_mode="stretch_width", visible=False)
        self._show()

    @param.depends("session.mode", "session.training.clock.playing",
                   "session.training.history_version", watch=True)
    def _show(self) -> None:
        s, training = self.session, self.session.training
        shown = training.clock.playing and s.mode != "train"
        self._layout.visible = shown
        if not shown:
            return
        steps, rate = len(training.history), training.steps_per_minute
        done = f"{steps:,} step{'' if steps == 1 else 's'} so far"
        loss = f", batch loss {training.history[-1][1]:.3f}" if training.history else ""
        speed = f", {rate / 60:.1f} steps a second" if rate else ""
        set_html(self._text, "<div class='note ok'><b>Training goes on</b> "
                 f"({esc(done + loss + speed)}): this view "
                 "shows the model as it is now and follows it as it learns. ▶ Play here "
                 f"animates {esc(PLAY_ANIMATES.get(s.mode, 'this view'))} on the model of "
                 "the moment; pause training here or in the Training view.</div>")

    def __panel__(self):
        return self._layout
