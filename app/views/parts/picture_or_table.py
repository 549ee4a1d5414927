"""A picture with a sentence that says what it shows now, and a table of the same numbers a
click away: the picture's text alternatives, which a screen reader reaches in reading order."""

from __future__ import annotations

import panel as pn
import param

from app.i18n import N_
from app.views.parts.markup import esc, html_pane, set_html

SHOW_AS_TABLE = N_("Show as table")


class PictureOrTable(pn.viewable.Viewer):
    """`picture`, the `summary` under it, and a toggle that puts `table` in its place. The
    table is only put on the page when asked for: nobody reading it, it need not be sent
    (and a Bokeh DataTable rendered while hidden cannot measure its columns).

    The summary is one short sentence a view writes from numbers the session computed
    ("Block 0, head 2: token 5 't' attends most to 'g' at 3 (0.74)."); it is the picture
    said in words, not announced (the page's live region says what matters, once)."""

    showing_table = param.Boolean(default=False, doc="Whether the table is shown.")
    summary = param.String(default="", doc="What the picture shows now, in one sentence.")

    def __init__(self, picture, table, **params):
        super().__init__(**params)
        self.picture, self.table = picture, table
        self.toggle = pn.widgets.Toggle.from_param(self.param.showing_table,
                                                   label=SHOW_AS_TABLE, width=120,
                                                   margin=(0, 5), color="light")
        self._summary = html_pane(margin=(0, 5))
        self._body = pn.Column(picture, sizing_mode="stretch_width")
        self._layout = pn.Column(self._body, self._summary, self.toggle,
                                 sizing_mode="stretch_width")
        self._say()

    @param.depends("showing_table", watch=True)
    def _swap(self) -> None:
        self._body.objects = [self.table if self.showing_table else self.picture]

    @param.depends("summary", watch=True)
    def _say(self) -> None:
        self._summary.visible = bool(self.summary)
        set_html(self._summary, f"<p class='summary'>{esc(self.summary)}</p>")

    def __panel__(self):
        return self._layout
