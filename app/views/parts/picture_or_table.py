"""A picture with a table of the same numbers a click away."""

from __future__ import annotations

import panel as pn
import param

from app.i18n import N_


class PictureOrTable(pn.viewable.Viewer):
    """`picture`, and a toggle that puts `table` in its place. The table is only put on the
    page when asked for: nobody reading it, it need not be sent (and a Bokeh DataTable
    rendered while hidden cannot measure its columns)."""

    showing_table = param.Boolean(default=False, doc="Whether the table is shown.")

    def __init__(self, picture, table, **params):
        super().__init__(**params)
        self.picture, self.table = picture, table
        self.toggle = pn.widgets.Toggle.from_param(self.param.showing_table,
                                                   label=N_("Show as table"), width=120,
                                                   margin=(0, 5), color="light")
        self._body = pn.Column(picture, sizing_mode="stretch_width")
        self._layout = pn.Column(self._body, self.toggle, sizing_mode="stretch_width")

    @param.depends("showing_table", watch=True)
    def _swap(self) -> None:
        self._body.objects = [self.table if self.showing_table else self.picture]

    def __panel__(self):
        return self._layout
