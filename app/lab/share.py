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


def embed_snippet(url: str, view: str) -> str:
    """One line of HTML that shows the view at `url` in a blog post."""
    title = f"Napkin GPT: {VIEWS[view][0] if view in VIEWS else view}"
    return (f'<iframe src="{html.escape(url, quote=True)}" title="{html.escape(title)}" '
            f'loading="lazy" sandbox="{SANDBOX}" '
            f'style="width:100%;aspect-ratio:{ASPECT};border:0"></iframe>')


class ShareBar(pn.viewable.Viewer):
    """Copy a link to this state, or the embed code for the current view."""

    state = param.String(default="", doc="The lab's state as a URL hash (without '#').")
    view = param.String(default="attention")
    model_file = param.String(default="", doc="The file the lab's model was opened from, "
                                              "if it was: a link cannot carry it.")

    def __init__(self, **params):
        super().__init__(**params)
        self.link = pn.widgets.TextInput(label="Link to this state", disabled=True,
                                         sizing_mode="stretch_width")
        self.snippet = pn.widgets.TextAreaInput(label="Embed this view (copy into a post)",
                                                disabled=True, height=70,
                                                sizing_mode="stretch_width")
        copy_link = pn.widgets.Button(label="Copy link", width=130)
        copy_embed = pn.widgets.Button(label="Copy embed code", width=160)
        for button, field in ((copy_link, self.link), (copy_embed, self.snippet)):
            button.js_on_click(args={"field": field, "button": button}, code=COPY_JS)
        self.local_note = pn.pane.HTML(sizing_mode="stretch_width", visible=False)
        self._layout = pn.Card(
            pn.Row(copy_link, copy_embed), self.local_note, self.link, self.snippet,
            title="Share", collapsed=True, sizing_mode="stretch_width")
        if pn.state.location is not None:  # the address is known once the page connects
            pn.state.location.param.watch(lambda _: self._update(), "href")
        self._update()

    @param.depends("state", "view", watch=True)
    def _update(self) -> None:
        location = pn.state.location
        page = location.href if location is not None and location.href else ""
        if not page:
            self.link.value = f"#{self.state}"
            self.snippet.value = embed_snippet(f"embed.html#{self.state}", self.view)
            return
        self.link.value = page_link(page, self.state)
        static = sys.platform == "emscripten"  # Pyodide: the static site
        self.snippet.value = embed_snippet(embed_url(page, self.state, static), self.view)

    @param.depends("model_file", watch=True)
    def _note_local_model(self) -> None:
        self.local_note.visible = bool(self.model_file)
        self.local_note.object = (
            f"<p><b>A link cannot carry the model opened from "
            f"{html.escape(self.model_file)}.</b> It names the model by its digest, and shows "
            "it only in a browser that has opened that file; anyone else sees the shipped "
            "model. Send the file with the link.</p>" if self.model_file else "")

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
