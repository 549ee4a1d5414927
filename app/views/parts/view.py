"""What every view is: a Panel Viewer of one LabSession that knows whether it is shown, laid
out in named sections one of which can be brought forward."""

from __future__ import annotations

import functools

import panel as pn
import param
from bokeh.core.property.vectorization import value
from bokeh.model import Model
from bokeh.models import Axis, HoverTool, LegendItem, Title

from app.i18n import DEFAULT_LANGUAGE, LANGUAGES, translation
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

    @param.depends("session.language", watch=True)
    def _translate_labels(self) -> None:
        """The marked (N_) labels of the view's widgets and figures in the session's
        language; labels the view writes as it draws follow the language themselves."""
        tr = self.session.tr
        for owner, attribute, english in getattr(self, "_labels", []):
            if attribute == "tooltips":
                owner.tooltips = [(tr(name), field) for name, field in english]
            elif attribute == "options":
                owner.options = {tr(label): option for label, option in english.items()}
            elif attribute == "legend":
                owner.label = value(tr(english))
            else:
                setattr(owner, attribute, tr(english))

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
        layout = pn.Column(*self._sections.values(), sizing_mode="stretch_width")
        self._labels = marked_labels(layout)
        self._translate_labels()
        return layout

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


def marked_labels(layout: pn.viewable.Viewable) -> list[tuple[object, str, object]]:
    """(object, attribute, its English) for every label in `layout` that a catalogue knows:
    widgets' names and labels and options, static HTML panes, and Bokeh figures' titles,
    axis labels, legend items, hover tooltips and table columns."""
    known = [translation(code) for code in LANGUAGES if code != DEFAULT_LANGUAGE]

    def marked(text) -> bool:
        return isinstance(text, str) and any(t.knows(text) for t in known)

    found = []
    for widget in layout.select(pn.widgets.Widget):
        found += [(widget, a, getattr(widget, a)) for a in ("name", "label", "description")
                  if a in widget.param and marked(getattr(widget, a))]
        options = getattr(widget, "options", None)
        if isinstance(options, dict) and any(map(marked, options)):
            found.append((widget, "options", dict(options)))
    found += [(pane, "object", pane.object) for pane in layout.select(pn.pane.HTML)
              if marked(pane.object)]
    for pane in layout.select(pn.pane.Bokeh):
        for model in pane.object.select({"type": Model}) if pane.object is not None else ():
            title = getattr(model, "title", None)
            if isinstance(model, Title) and marked(model.text):
                found.append((model, "text", model.text))
            elif isinstance(title, str) and marked(title):  # a table column
                found.append((model, "title", title))
            if isinstance(model, Axis) and marked(model.axis_label):
                found.append((model, "axis_label", model.axis_label))
            if isinstance(model, LegendItem) and marked(getattr(model.label, "value", None)):
                found.append((model, "legend", model.label.value))
            if isinstance(model, HoverTool) and isinstance(model.tooltips, list) and any(
                    marked(name) for name, _ in model.tooltips):
                found.append((model, "tooltips", list(model.tooltips)))
    return found


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
