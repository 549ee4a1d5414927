"""The note the page shows above every view but Training while the model trains: training
goes on, and the view shows the model as it is now."""

from __future__ import annotations

import panel as pn
import param

from app.i18n import N_
from app.session.session import LabSession
from app.views.parts.markup import esc, html_pane, set_html

PLAY_ANIMATES = {"generate": N_("the model writing, stage by stage and token by token"),
                 "examples": N_("the window sliding over the text")}


class TrainingNote(pn.viewable.Viewer):
    """While training plays outside the Training view: the step it is at, what the view
    shows, what Play does here, and a button that pauses training."""

    session = param.ClassSelector(class_=LabSession, doc="The reader's lab.")

    def __init__(self, **params):
        super().__init__(**params)
        self._text = html_pane()
        pause = self._pause = pn.widgets.Button(width=160, align="center")
        pause.on_click(lambda _: self.session.training.pause())
        self._layout = pn.Row(self._text, pause, sizing_mode="stretch_width", visible=False)
        self._show()

    @param.depends("session.mode", "session.training.clock.playing",
                   "session.training.history_version", "session.language", watch=True)
    def _show(self) -> None:
        s, training, tr = self.session, self.session.training, self.session.tr
        self._pause.param.update(label=tr("❚❚ Pause training"), description=tr(
            "Stop training (it goes on in every view until you do)"))
        shown = training.clock.playing and s.mode != "train"
        self._layout.visible = shown
        if not shown:
            return
        steps, rate = len(training.history), training.steps_per_minute
        done = tr.ngettext("{n:,} step so far", "{n:,} steps so far", steps)
        loss = (tr(", batch loss {loss:.3f}", loss=training.history[-1][1])
                if training.history else "")
        speed = tr(", {rate:.1f} steps a second", rate=rate / 60) if rate else ""
        animates = tr(PLAY_ANIMATES.get(s.mode, N_("this view")))
        going_on = esc(tr("Training goes on"))
        set_html(self._text, "<div class='note ok'>" + tr(
            "{training} ({progress}): this view shows the model as it is now and follows it as "
            "it learns. ▶ Play here animates {animates} on the model of the moment; pause "
            "training here or in the Training view.",
            training=f"<b>{going_on}</b>",
            progress=esc(done + loss + speed),
            animates=esc(animates)) + "</div>")

    def __panel__(self):
        return self._layout
