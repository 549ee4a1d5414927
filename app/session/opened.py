"""A model opened from a file: a GGUF that napkin-gpt wrote (F32, F16, Q8_0 or Q4_0), or a
weights folder zipped as the lab's "Download weights" gives it.

    session.opened.open("my-model.gguf", data)   # True once the lab runs it

The file is checked before anything large is allocated (engine/ceiling.py, gguf_header.py,
weights.py): a file that fails is refused with a message that names the problem, and the
lab keeps the model it had. A file that passes becomes the session's model, with its
vocabulary, context and shape; every view follows. It trains on the shipped text when its
vocabulary covers it. A LabSession holds one OpenedModel as `session.opened`.
"""

from __future__ import annotations

import hashlib

import numpy as np
import param

from app.session.gguf_io import read_gguf
from engine.ceiling import MAX_FILE_BYTES, describe_bytes
from engine.gguf_file import GGUFError
from engine.weights import Checkpoint, WeightsError, read_weights_zip

GGUF_MAGIC = b"GGUF"
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")  # a zip's first entry, or an empty zip's end


class ModelFileError(ValueError):
    """A file the lab cannot open as a model; the message names the file and the problem."""


def read_model_file(data: bytes, name: str) -> Checkpoint:
    """The model in `data`, a GGUF or a weights zip by its first bytes, checked."""
    if not data:
        raise ModelFileError(f"{name} is empty")
    if len(data) > MAX_FILE_BYTES:
        raise ModelFileError(f"{name} is {len(data):,} bytes; the lab opens model files up "
                             f"to {describe_bytes(MAX_FILE_BYTES)}")
    try:
        if data[:4] == GGUF_MAGIC:
            return read_gguf(data, name)
        if data[:4] in ZIP_MAGICS:
            return read_weights_zip(data, name)
    except (GGUFError, WeightsError) as e:
        raise ModelFileError(str(e)) from None
    raise ModelFileError(f"{name} is neither a GGUF file nor a zip of weights (it starts "
                         f"with {bytes(data[:8])!r}): open a .gguf or the .zip that Download "
                         "gives")


def digest(data: bytes) -> str:
    """The first 12 hex digits of the sha256 of `data`: the name of a file's contents."""
    return hashlib.sha256(data).hexdigest()[:12]


class OpenedModel(param.Parameterized):
    """The model last opened from a file, and opening the next one."""

    file_name = param.String(default="", doc="The file the last model was opened from.")
    digest = param.String(default="", doc="Its contents' name (see `digest`).")
    refused = param.String(default="", doc="Why the last file was refused; '' if it was not.")

    def __init__(self, session, **params):
        """session: the LabSession that runs what is opened."""
        super().__init__(**params)
        self.session = session
        self.checkpoint: Checkpoint | None = None  # as read from the file, never trained

    def open(self, name: str, data: bytes) -> bool:
        """Make the model in `data` (from the file `name`) the lab's model; False, with
        the reason told, if the file is refused (the lab keeps the model it had)."""
        s = self.session
        try:
            checkpoint = read_model_file(data, name)
            model, tokenizer = self._runnable(checkpoint, name)
        except ModelFileError as e:
            self.refused = str(e)
            s.tell(s.tr("{why}. The lab keeps the model it had.", why=str(e)), "error")
            return False
        corpus = self.session.training.shipped_corpus or ""
        covered = bool(corpus) and _covers(tokenizer, corpus)
        self.checkpoint = checkpoint
        self.param.update(file_name=name, digest=digest(data), refused="")
        s.clock.playing = False
        s.corpus_name = "Shakespeare" if covered else ""
        s._install(model, tokenizer, corpus if covered else "", source=name)
        c = model.config
        text = (s.tr("It can train on the shipped text, whose characters its vocabulary "
                     "covers.") if covered else s.tr(
                "Its vocabulary does not cover the shipped text, so it has no text to train "
                "on here."))
        s.tell(s.tr("Opened {name}: {n_params:,} parameters, {n_layer} blocks of {n_head} "
                    "heads, width {n_embd}, context {block_size}, {V} tokens. {text} Back to "
                    "the shipped model brings the shipped one back.", name=name,
                    n_params=c.n_params, n_layer=c.n_layer, n_head=c.n_head, n_embd=c.n_embd,
                    block_size=c.block_size, V=c.vocab_size, text=text))
        s.weights_version += 1
        return True

    def _runnable(self, checkpoint: Checkpoint, name: str):
        """(model, tokenizer) of the engine in use, with a copy of the file's weights, once
        it has run the prompt to finite logits."""
        s = self.session
        try:
            config = checkpoint.model.config
            params = {n: p.copy() for n, p in checkpoint.model.params.items()}
            model = s.make_model(config, params=params)
            tokenizer = s.engine.tokenizer.tokenizer_from_dict(checkpoint.tokenizer.to_dict())
            ids = tokenizer.encode(s.prompt or "\n")[-config.block_size:] or [0]
            logits, _ = model.forward(np.array(ids))
        except Exception as e:  # the reader's edited engine may fail on any model
            raise ModelFileError(f"{name} holds a model the engine in use cannot run "
                                 f"({type(e).__name__}: {e})") from None
        if not np.all(np.isfinite(logits)):
            raise ModelFileError(f"{name} holds a model whose logits on the prompt are NaN "
                                 "or infinite")
        return model, tokenizer


def _covers(tokenizer, text: str) -> bool:
    """Whether `tokenizer` has a token for every character of `text` (a byte-level one
    always has)."""
    known = getattr(tokenizer, "stoi", None)
    return known is None or set(text) <= known.keys()
