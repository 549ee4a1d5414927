"""Share the lab: a link that restores the current state, and a one-line embed for a blog.

    <iframe src="https://example.org/napkin/embed.html#view=attention&layer=1"
            title="Napkin GPT: attention" loading="lazy"
            sandbox="allow-scripts allow-same-origin allow-downloads"
            style="width:100%;aspect-ratio:4/3;border:0"></iframe>

The sandbox allows scripts (Pyodide is JavaScript and WebAssembly) and the page's own origin
(so its worker may fetch the runtime, the wheel and the weights, and keep edits in
localStorage), downloads (of edited code), and nothing else: no popups, no top navigation,
no forms.
"""

from __future__ import annotations

import html
import sys
from urllib.parse import urljoin, urlsplit, urlunsplit

import panel as pn
import param

from app.i18n import DEFAULT_LANGUAGE, LANGUAGES, N_, translation
from app.views import VIEWS

SANDBOX = "allow-scripts allow-same-origin allow-downloads"
ASPECT = "4/3"


def page_link(page_url: str, state: str) -> str:
    """The page's address with `state` as its hash."""
    scheme, netloc, path, query, _ = urlsplit(page_url)
    return urlunsplit((scheme, netloc, path, query, state))


def embed_url(page_url: str, state: str, static: bool) -> str:
    """The embed page next to `page_url` (embed.html on the static site, /embed under
    `napkin-gpt serve`), carrying `state`."""
    base = page_url.split("#", 1)[0].split("?", 1)[0]
    return page_link(urljoin(base, "embed.html" if static else "embed"), state)


def embed_snippet(url: str, view: str, title: str = "", language: str = DEFAULT_LANGUAGE) -> str:
    """One line of HTML that shows the view at `url` in a blog post; `title` names it, if
    not the view's title (a chapter of the tour), in `language`."""
    name = translation(language)(VIEWS[view][0]) if view in VIEWS else view
    title = f"Napkin GPT: {title or name}"
    return (f'<iframe src="{html.escape(url, quote=True)}" title="{html.escape(title)}" '
            f'loading="lazy" sandbox="{SANDBOX}" '
            f'style="width:100%;aspect-ratio:{ASPECT};border:0"></iframe>')


class ShareBar(pn.viewable.Viewer):
    """Copy a link to this state, or the embed code for the current view."""

    state = param.String(default="", doc="The lab's state as a URL hash (without '#').")
    view = param.String(default="attention")
    model_file = param.String(default="", doc="The file the lab's model was opened from, "
                                              "if it was: a link cannot carry it.")
    title = param.String(default="", doc="What the embed shows, if not the view.")
    code = param.String(default="", doc="The reader's code edits as a link's code part.")
    code_note = param.String(default="", doc="Why the edits cannot go in a link, if so.")
    with_code = param.Boolean(default=False, doc="Whether the links carry the code edits.")
    language = param.Selector(default=DEFAULT_LANGUAGE, objects=list(LANGUAGES),
                              allow_refs=True, doc="The language the bar speaks (app/i18n).")

    def __init__(self, **params):
        super().__init__(**params)
        self.link = pn.widgets.TextInput(disabled=True, sizing_mode="stretch_width")
        self.code_switch = pn.widgets.Checkbox.from_param(self.param.with_code, visible=False)
        self._code_note = pn.pane.HTML(sizing_mode="stretch_width", visible=False)
        self.snippet = pn.widgets.TextAreaInput(disabled=True, height=70,
                                                sizing_mode="stretch_width")
        copy_link = pn.widgets.Button(width=130)
        copy_embed = pn.widgets.Button(width=160)
        self._labelled = {self.link: N_("Link to this state"), self.snippet: N_(
            "Embed this view (copy into a post)"), copy_link: N_("Copy link"),
            copy_embed: N_("Copy embed code"), self.code_switch: N_(
                "with my code edits (they run only when the reader presses Run)")}
        for button, field in ((copy_link, self.link), (copy_embed, self.snippet)):
            button.js_on_click(args={"field": field, "button": button}, code=COPY_JS)
        self.local_note = pn.pane.HTML(sizing_mode="stretch_width", visible=False)
        self._layout = pn.Card(
            pn.Row(copy_link, copy_embed), self.local_note, self.code_switch, self._code_note,
            self.link, self.snippet, collapsed=True, sizing_mode="stretch_width")
        if pn.state.location is not None:  # the address is known once the page connects
            pn.state.location.param.watch(lambda _: self._update(), "href")
        self._translate()

    @param.depends("language", watch=True)
    def _translate(self) -> None:
        tr = translation(self.language)
        for widget, label in self._labelled.items():
            widget.param.update(**dict.fromkeys({"name", "label"} & set(widget.param),
                                                tr(label)))
        self._layout.title = tr("Share")
        self._update()
        self._note_local_model()

    @property
    def shared(self) -> str:
        """The hash the links carry: the state, and the code edits if asked for."""
        if not (self.with_code and self.code):
            return self.state
        return f"{self.state}&code={self.code}" if self.state else f"code={self.code}"

    @param.depends("state", "view", "title", "code", "code_note", "with_code", watch=True)
    def _update(self) -> None:
        self.code_switch.visible = bool(self.code)
        self._code_note.visible = bool(self.code_note)
        self._code_note.object = f"<p>{html.escape(self.code_note)}</p>"
        location = pn.state.location
        page = location.href if location is not None and location.href else ""
        state = self.shared
        if not page:
            self.link.value = f"#{state}"
            self.snippet.value = embed_snippet(f"embed.html#{state}", self.view, self.title,
                                               self.language)
            return
        self.link.value = page_link(page, state)
        static = sys.platform == "emscripten"  # Pyodide: the static site
        self.snippet.value = embed_snippet(embed_url(page, state, static), self.view,
                                           self.title, self.language)

    @param.depends("model_file", watch=True)
    def _note_local_model(self) -> None:
        self.local_note.visible = bool(self.model_file)
        self.local_note.object = "<p>" + translation(self.language)(
            "{cannot} It names the model by its digest, and shows it only in a browser that "
            "has opened that file; anyone else sees the shipped model. Send the file with the "
            "link.", cannot="<b>" + html.escape(translation(self.language)(
                "A link cannot carry the model opened from {file}.", file=self.model_file))
            + "</b>") + "</p>" if self.model_file else ""

    def __panel__(self):
        return self._layout


COPY_JS = """
const text = field.value
const done = (label) => { const old = button.label; button.label = label;
                          setTimeout(() => { button.label = old }, 1500) }
if (navigator.clipboard && window.isSecureContext) {
  navigator.clipboard.writeText(text).then(() => done('Copied'), () => done('Select and copy'))
} else {
  done('Select and copy')
}
"""
