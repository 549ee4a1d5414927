"""'Download GGUF': the model the reader is looking at, as a file llama.cpp runs; and, where
asked for, 'Download weights': the same weights as a zip of model.npz and config.json
(float, as trained), which Open model… brings back.

A part of a view (Quantization, Training), not a view of its own. The file is written from
the session's model at the moment of the click: the weights as trained so far, from the
engine in use (shipped or edited). The size shown beforehand depends only on the shapes, the
types and the vocabulary, so it is worked out once per model and type, not per training step,
and without the `gguf` package: in the browser that is imported at the first click only.
"""

from __future__ import annotations

import io

import panel as pn
import param

from app.i18n import N_
from app.session.gguf_io import gguf_bytes
from app.session.session import LabSession
from app.views.parts.layout import wrap_row
from app.views.parts.markup import esc, html_pane, set_html
from engine.gguf_file import GGUF_TYPES, GGUFError
from engine.weights import ZIP_FOLDER, weights_zip

TYPE_LABELS = {"F32": "f32", "F16": "f16", "Q8_0": "q8_0", "Q4_0": "q4_0"}


class GGUFDownload(pn.viewable.Viewer):
    """A 'Download GGUF' button for `fmt`, with the file's size and how to run it."""

    session = param.ClassSelector(class_=LabSession, doc="The reader's lab.")
    fmt = param.Selector(default="q8_0", objects=list(GGUF_TYPES), allow_refs=True,
                         doc="The GGUF type: how the matrices and token embedding are stored.")
    active = param.Boolean(default=False, allow_refs=True,
                           doc="Work out the size only while the owning view is shown.")
    choose = param.Boolean(default=False, constant=True,
                           doc="Show a type selector (else `fmt` follows its owner).")
    weights = param.Boolean(default=False, constant=True,
                            doc="Also offer the weights as a zip, as Open model… reads them.")
    size = param.Integer(default=None, allow_None=True, precedence=-1,
                         doc="Bytes of the file for the current model and type.")

    def __init__(self, **params):
        super().__init__(**params)
        self._button = pn.widgets.FileDownload(
            callback=self._file, filename=self._filename(), label=N_("Download GGUF"),
            color="primary", width=170, margin=(5, 10), disabled=True)
        self._note = html_pane()
        row = [self._button, self._note]
        if self.choose:
            row.insert(0, pn.widgets.RadioButtonGroup.from_param(
                self.param.fmt, options=TYPE_LABELS, width=220, margin=(5, 10)))
        if self.weights:
            row.insert(-1, pn.widgets.FileDownload(
                callback=self._weights_file, filename=f"{ZIP_FOLDER}.zip",
                label=N_("Download weights (zip)"), width=200, margin=(5, 10)))
        self._layout = wrap_row(*row, align_items="center")
        self._key = None
        self._refresh()

    def _filename(self) -> str:
        return f"napkin-gpt-{self.fmt}.gguf"

    @param.depends("session.language", watch=True)
    def _translate(self) -> None:
        self._key = None
        self._refresh()

    @param.depends("active", "fmt", "session.trace", watch=True)
    def _refresh(self) -> None:
        """New type or new model (reset, new text, edited engine): size the file again."""
        s = self.session
        key = (s.model, s.tokenizer, self.fmt)
        if not self.active or key == self._key:
            return
        self._key = key
        self._button.filename = self._filename()
        code = s.engine.gguf_file  # the engine in use: an edit to gguf_file.py counts
        try:
            self.size = code.gguf_size(code.gguf_metadata(s.model.config, s.tokenizer, self.fmt,
                                                          self._description()),
                                       code.gguf_tensors(s.model, self.fmt))
        except (GGUFError, code.GGUFError) as e:
            self.size = None
            self._button.disabled = True
            set_html(self._note, "<div class='note error'>" + esc(
                self.session.tr("Cannot export: {why}", why=str(e))) + "</div>")
            return
        self._button.disabled = False
        self._show_size()

    def _show_size(self) -> None:
        T = self.session.config.block_size
        stored_type = self.session.engine.gguf_file.stored_type
        matrices, embedding = (stored_type(n, self.fmt).upper() for n in ("h.0.mlp.c_fc.w",
                                                                          "wte"))
        said = self.session.tr(
            "{file}: {size:,} bytes (block matrices {matrices}, token embedding {embedding}, "
            "the rest F32, as llama.cpp stores them). Run it with llama.cpp, within its "
            "{T}-token context: {command}", file=f"<b>{esc(self._filename())}</b>",
            size=self.size, matrices=matrices, embedding=embedding, T=T,
            command=f"<code>llama-completion -m {esc(self._filename())} -p 'ROMEO:' -n 40 "
                    f"-c {T} --temp 0</code>")
        set_html(self._note, f"<p class='explain'>{said}</p>")

    def _description(self) -> str:
        return f"napkin-gpt trained on {self.session.corpus_name or 'text'}"

    def _bytes(self) -> bytes:
        s = self.session
        return gguf_bytes(s.model, s.tokenizer, self.fmt, self._description(),
                          s.engine.gguf_file)

    def _file(self) -> io.BytesIO:
        """The click: the file from the weights as they are now."""
        try:
            return io.BytesIO(self._bytes())
        except (GGUFError, self.session.engine.gguf_file.GGUFError) as e:
            set_html(self._note, "<div class='note error'>" + esc(
                self.session.tr("Cannot export: {why}", why=str(e))) + "</div>")
            raise

    def _weights_file(self) -> io.BytesIO:
        """The click: the weights as they are now, zipped as Open model… reads them."""
        s = self.session
        record = {"corpus": s.corpus_name, "steps_here": len(s.training.history),
                  "opened_from": s.model_file}
        return io.BytesIO(weights_zip(s.model, s.tokenizer, record))

    def __panel__(self):
        return self._layout
