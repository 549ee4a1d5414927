"""'Open model…': a GGUF or a weights zip from the reader's disk, by the file picker or dropped
on the bar; the lab switches to it, and this browser keeps it so that a reload does not lose it.

The page's side (`FilePicker`) only reads the file and sends it: its name, size and bytes (as
base64), and only the name and size of a file over the lab's limit, which is not read. What
the bytes are, and whether the lab can hold them, is decided in Python
(app/session/opened.py). The last opened file is kept in the browser's localStorage, as the
code edits are; a file too big to keep is opened but not kept, and the bar says so. A link
names the opened model by its contents' digest (`model=local-<digest>`) but cannot carry it:
a reload, or the link opened in this browser again, restores it from there.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import ClassVar

import panel as pn
import param
from panel.custom import JSComponent

from app.session.opened import ModelFileError
from app.session.session import LabSession
from app.views.parts.markup import esc, html_pane, set_html
from app.views.parts.storage import BrowserStorage
from engine.ceiling import LAB_BUDGET, MAX_FILE_BYTES, describe_bytes

STORAGE_KEY = "napkin-gpt:model:v1"
# What localStorage keeps beside the code edits: Chromium allows an origin 5 Mi characters
# (keys and values, measured in Chromium 2026-12-03), so 3 Mi of base64 (a 2.25 MiB file).
MAX_KEPT_CHARS = 3 * 2**20
DROP_ZONE_CSS = """
.drop-zone { display: flex; flex-wrap: wrap; align-items: center; gap: 0.6rem;
  padding: 0.35rem 0.6rem; border: 2px dashed #adb5bd; border-radius: 6px;
  font-family: system-ui, sans-serif; font-size: 0.9rem; color: #5b6475; }
.drop-zone.over { border-color: #d9480f; background: #fff4e6; }
.drop-zone button { font: inherit; padding: 0.25rem 0.8rem; border-radius: 4px;
  border: 1px solid #3b5bdb; background: #3b5bdb; color: white; cursor: pointer; }
"""


class FilePicker(JSComponent):
    """An 'Open model…' button and a zone to drop a file on. Each file chosen or dropped
    arrives as a new `file`: {"name", "size", "data": base64 ("" if not read), "error",
    "count"}."""

    label = param.String(default="Open model…")
    hint = param.String(default="or drop a .gguf or .zip file on this bar")
    accept = param.String(default=".gguf,.zip")
    max_bytes = param.Integer(default=MAX_FILE_BYTES, doc="Larger files are not read.")
    file = param.Dict(default={}, doc="The last file chosen or dropped.")

    _esm = """
    export function render({ model }) {
      const zone = document.createElement('div')
      zone.className = 'drop-zone'
      const input = document.createElement('input')
      input.type = 'file'
      input.accept = model.accept
      input.hidden = true
      const button = document.createElement('button')
      button.type = 'button'
      button.textContent = model.label
      button.addEventListener('click', () => input.click())
      const hint = document.createElement('span')
      hint.textContent = model.hint
      zone.append(input, button, hint)
      let count = 0
      const send = (file) => {
        const sent = { name: file.name, size: file.size, data: '', error: '', count: ++count }
        if (file.size > model.max_bytes) { model.file = sent; return }
        const reader = new FileReader()
        reader.onload = () => {
          const url = String(reader.result)
          model.file = { ...sent, data: url.slice(url.indexOf(',') + 1) }
        }
        reader.onerror = () => { model.file = { ...sent, error: String(reader.error) } }
        reader.readAsDataURL(file)
      }
      input.addEventListener('change', () => {
        if (input.files.length) send(input.files[0])
        input.value = ''
      })
      zone.addEventListener('dragover', (e) => { e.preventDefault(); zone.classList.add('over') })
      zone.addEventListener('dragleave', () => zone.classList.remove('over'))
      zone.addEventListener('drop', (e) => {
        e.preventDefault()
        zone.classList.remove('over')
        const file = e.dataTransfer && e.dataTransfer.files[0]
        if (file) send(file)
      })
      return zone
    }
    """
    _stylesheets: ClassVar[list[str]] = [DROP_ZONE_CSS]


class ModelBar(pn.viewable.Viewer):
    """Open a model file, see which model runs, and go back to the shipped one."""

    session = param.ClassSelector(class_=LabSession, doc="The reader's lab.")
    wanted = param.String(default="", doc=(
        "The digest of the opened model the page's address names ('' for none): restored "
        "from this browser if it kept that file."))
    kept = param.String(default="", precedence=-1,
                        doc="Why the opened file is not kept in this browser ('' if it is).")
    missing = param.String(default="", precedence=-1,
                           doc="The digest the address named that this browser had not kept.")

    def __init__(self, **params):
        super().__init__(**params)
        self.picker = FilePicker(sizing_mode="stretch_width")
        self.picker.param.watch(self._picked, "file")
        self.store = BrowserStorage(key=STORAGE_KEY, keep_old=False)
        self.store.param.watch(lambda _: self._restore(), "loaded")
        self.store.param.watch(self._store_failed, "error")
        self.back = pn.widgets.Button(width=210, visible=False)  # labelled as drawn
        self.back.on_click(lambda _: self._back())
        self._status = html_pane()
        self._layout = pn.Column(pn.Row(self.picker, self.back, sizing_mode="stretch_width"),
                                 self._status, self.store, sizing_mode="stretch_width")
        self._show()

    # ---- opening ----------------------------------------------------------------------------

    def _picked(self, event) -> None:
        """A file chosen or dropped in the page."""
        sent = event.new or {}
        name = str(sent.get("name") or "the file")
        try:
            data = self._decode(sent, name)
        except ModelFileError as e:
            self.session.opened.refused = str(e)
            self.session.tell(self.session.tr("{why}. The lab keeps the model it had.",
                                              why=str(e)), "error")
            return
        if self.session.opened.open(name, data):
            self.missing = ""
            self._keep(name, sent["data"])

    @staticmethod
    def _decode(sent: dict, name: str) -> bytes:
        """The file's bytes, after checking the size the page reported."""
        size = sent.get("size")
        if sent.get("error"):
            raise ModelFileError(f"the browser could not read {name}: {sent['error']}")
        if not isinstance(size, int):
            raise ModelFileError(f"the page sent no size for {name}")
        if size > MAX_FILE_BYTES:
            raise ModelFileError(f"{name} is {size:,} bytes; the lab opens model files up to "
                                 f"{describe_bytes(MAX_FILE_BYTES)}")
        return from_base64(sent.get("data"), name)

    def _keep(self, name: str, text: str) -> None:
        """Keep the opened file in this browser, if it fits."""
        record = json.dumps({"name": name, "digest": self.session.opened.digest, "data": text})
        if len(record) > MAX_KEPT_CHARS:
            self.store.value = ""
            self.kept = (f"it is too big to keep in this browser ({len(record):,} characters "
                         f"as text; it keeps up to {MAX_KEPT_CHARS:,})")
        else:
            self.kept = ""
            self.store.error = ""  # the page reports a failure of this write anew
            self.store.value = record

    def _store_failed(self, event) -> None:
        if event.new == "full" and self.session.model_file:
            self.kept = "this browser's storage is full"
        elif event.new:
            self.kept = f"this browser does not let the lab keep it ({event.new})"
        self._show()

    @param.depends("wanted", watch=True)
    def _restore(self) -> None:
        """Open the model the address names, if this browser kept it; once the browser has
        said what it kept, the request is answered (`missing` says when it could not be)."""
        wanted, opened = self.wanted, self.session.opened
        if not wanted or not self.store.loaded:
            return
        self.wanted = ""
        if self.session.model_file and opened.digest == wanted:
            return
        try:
            kept = json.loads(self.store.value) if self.store.value else {}
        except ValueError:
            kept = {}
        restored = False
        if isinstance(kept, dict) and kept.get("digest") == wanted:
            name = str(kept.get("name") or "the kept file")
            try:
                restored = opened.open(name, from_base64(kept.get("data"), name))
            except ModelFileError:
                self.store.value = ""
        self.missing = "" if restored else wanted

    def _back(self) -> None:
        self.store.value = ""
        self.session.reset_weights()

    # ---- drawing ----------------------------------------------------------------------------

    @param.depends("session.model_file", "kept", "missing", "session.language", watch=True)
    def _show(self) -> None:
        s, opened, tr = self.session, self.session.opened, self.session.tr
        self.back.param.update(visible=bool(s.model_file), label=tr("Back to the shipped model"))
        self.picker.param.update(label=tr("Open model…"),
                                 hint=tr("or drop a .gguf or .zip file on this bar"))
        if s.model_file:
            kept = (tr("Not kept in this browser: {why}; a reload brings back the shipped "
                       "model.", why=self.kept) if self.kept else
                    tr("Kept in this browser: a reload keeps it."))
            text = "<p>" + tr(
                "Running {file}, opened from a file (trained here since, or not). {kept} A "
                "link names it (by its digest {digest}) but cannot carry it: whoever opens the "
                "link needs the same file.", file=f"<b>{esc(s.model_file)}</b>", kept=esc(kept),
                digest=esc(opened.digest)) + "</p>"
        elif self.missing:
            text = "<div class='note'>" + esc(tr(
                "The address names a model opened from a file (digest {digest}). A link cannot "
                "carry a model, and this browser has not kept that one: the shipped model is "
                "shown. Open the file to see it.", digest=self.missing)) + "</div>"
        else:
            text = "<p class='explain'>" + esc(tr(
                "Open a GGUF that napkin-gpt wrote (F32, F16, Q8_0 or Q4_0) or a zip from "
                "Download weights: it is checked before it is read (files up to {files}, "
                "models up to {memory} of memory in the lab).",
                files=describe_bytes(MAX_FILE_BYTES), memory=describe_bytes(LAB_BUDGET))) + "</p>"
        set_html(self._status, text)

    def __panel__(self):
        return self._layout


def from_base64(text, name: str) -> bytes:
    """The bytes of a file sent as base64, its length checked before it is decoded."""
    if not isinstance(text, str) or len(text) > 4 * (MAX_FILE_BYTES // 3 + 1):
        raise ModelFileError(f"the page sent {name} in a form the lab cannot read")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ModelFileError(f"the page sent {name} in a form the lab cannot read") from None
