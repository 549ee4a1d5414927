"""What every view is: a Panel Viewer of one LabSession that knows whether it is shown, laid
out in named sections one of which can be brought forward."""

from __future__ import annotations

import functools

import panel as pn
import param

from app.session.session import LabSession
from app.views.parts.markup import MORE_ABOUT, explanation, html_pane, set_html


class View(pn.viewable.Viewer):
    """A view of the lab. It reads `session` and feeds its own figures; the page sets
    `active` while the view is on screen, and a view with work of its own to do (the
    quantized model) does it only then.

    Once the page has hidden a view (`active` from True to False), the view's methods that
    follow the session (`@param.depends("session.…", watch=True)`) wait: they are called
    once each, in the order they were due, when the view is shown again. A training step or
    a new token then redraws the one view on screen, not every view opened before.
    """

    session = param.ClassSelector(class_=LabSession, doc="The reader's lab.")
    active = param.Boolean(default=False, doc="Whether the view is on the page.")
    focus = param.String(default="", doc=(
        "The section brought forward, the others folded away ('' shows every section)."))
    unfold = param.Boolean(default=False, doc="Show the folded sections too, in their places.")

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for name, method in list(vars(cls).items()):
            info = getattr(method, "_dinfo", {})
            if info.get("watch") and any(str(d).startswith("session.")
                                         for d in info.get("dependencies", ())):
                setattr(cls, name, _while_shown(method))

    # ---- words -------------------------------------------------------------------------------

    def explain(self, text: str, more: str = "") -> pn.pane.HTML:
        """An explanation (markup.explain) of marked strings (N_), in the session's language
        and said again when the language changes."""
        pane = html_pane()
        self._explanations = [*getattr(self, "_explanations", []), (pane, text, more)]
        self._say(pane, text, more)
        return pane

    def _say(self, pane: pn.pane.HTML, text: str, more: str) -> None:
        tr = self.session.tr
        set_html(pane, explanation(tr(text), tr(more) if more else "", tr(MORE_ABOUT)))

    @param.depends("session.language", watch=True)
    def _translate_explanations(self) -> None:
        for pane, text, more in getattr(self, "_explanations", []):
            self._say(pane, text, more)

    # ---- sections ------------------------------------------------------------------------------

    def _arrange(self, **sections: list) -> pn.Column:
        """The view's layout: its sections (name -> objects), in the order a reader meets
        them; the picture comes first or right after a short explanation.

        The sections stay where they are: bringing one forward folds the others to no
        height (and unfolding opens them again), so that nothing is taken apart and drawn
        anew, and their figures, still laid out, keep following the session."""
        self._sections = {name: pn.Column(*objects, sizing_mode="stretch_width",
                                          stylesheets=[FOLDED])
                          for name, objects in sections.items()}
        self._place()
        return pn.Column(*self._sections.values(), sizing_mode="stretch_width")

    def sections(self) -> tuple[str, ...]:
        """The names of the view's sections, in order."""
        return tuple(self._sections)

    @param.depends("focus", "unfold", watch=True)
    def _place(self) -> None:
        if self.focus and self.focus not in self._sections:
            raise ValueError(f"{type(self).__name__} has no section {self.focus!r}; it has "
                             f"{', '.join(self._sections)}")
        for name, column in self._sections.items():
            shown = not self.focus or self.unfold or name == self.focus
            column.css_classes = [] if shown else ["folded"]

    @param.depends("active", watch=True)
    def _catch_up(self) -> None:
        self._hidden = not self.active
        due, self._due = getattr(self, "_due", {}), {}
        if self.active:
            for name in due:
                getattr(self, name)()


# A folded section takes no room and is not seen, read or focused, but is not display: none:
# a Bokeh figure whose data changes while it is not displayed can fail to draw it later.
FOLDED = (":host(.folded) { height: 0 !important; min-height: 0 !important; margin: 0 !important;"
          " padding: 0 !important; overflow: hidden !important; visibility: hidden !important; }")


def _while_shown(method):
    """`method`, deferred while its view is hidden (see View)."""

    @functools.wraps(method)
    def follow(self, *args, **kwargs):
        if getattr(self, "_hidden", False):
            self._due = {**getattr(self, "_due", {}), method.__name__: None}
            return None
        return method(self, *args, **kwargs)

    return follow
