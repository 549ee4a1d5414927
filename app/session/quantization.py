"""The quantization lab's state: the session's model in llama.cpp's Q8_0 or Q4_0, and what
that costs in size, rounding error, validation loss and next-token probabilities.

Views read a QuantizationLab and never run a model. It works only while `active` (while
its view is shown: training must not pay for a view nobody looks at) and catches up when
it becomes active again. Each change recomputes only what depends on it:

    change                              quantize   float loss   quantized loss   probs
    format or tensor choice                yes          -             yes           yes
    new weights (a step, reset, new text)  yes         yes            yes           yes
    prompt or switched-off heads            -           -              -            yes

"Before" is the session's float model, "after" its quantized copy, both at temperature 1
and with the session's switched-off heads, so the two bars differ by quantization alone:
both run the engine in use (`session.engine`), edited or shipped, quantizer included.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from types import ModuleType

import numpy as np
import param

from app.session.session import LabSession
from engine.quant import FORMATS

# 64 evenly spaced windows of block_size tokens (64 x 64 = 4,096 predictions on the shipped
# model): one forward pass of about 30 ms per model, within 0.005 nats of all 512 windows
EVAL_WINDOWS = 64
LOSSES_EVERY = 10  # while training plays, the two losses are measured every this many steps
EMBEDDINGS = ("wte", "wpe")


def block_matrices(name: str, quant: ModuleType) -> bool:
    """The four weight matrices of each block; embeddings, biases and LayerNorm stay float."""
    return quant.is_block_matrix(name)


def block_matrices_and_embeddings(name: str, quant: ModuleType) -> bool:
    """The block matrices and the token and position embeddings (wte is also the LM head)."""
    return quant.is_block_matrix(name) or name in EMBEDDINGS


def every_tensor(name: str, quant: ModuleType) -> bool:
    """Everything, biases and LayerNorm gains and biases too."""
    return True


# which tensors to quantize: name, quant module of the engine in use -> bool
TENSOR_CHOICES: dict[str, Callable[[str, ModuleType], bool]] = {
    "block matrices": block_matrices,
    "block matrices + embeddings": block_matrices_and_embeddings,
    "every tensor": every_tensor,
}


class QuantizationLab(param.Parameterized):
    """The session's model quantized to `fmt`, and its costs beside the float model's."""

    session = param.ClassSelector(class_=LabSession, doc="The reader's lab.")
    fmt = param.Selector(default="q8_0", objects=list(FORMATS), doc="llama.cpp's format.")
    which = param.Selector(default="block matrices", objects=list(TENSOR_CHOICES),
                           doc="Which tensors are quantized; the others stay float32.")
    active = param.Boolean(default=False, allow_refs=True,
                           doc="Compute only while True; a view passes its own `active`.")

    # ---- derived (views read these) ----------------------------------------------------------
    report = param.Parameter(precedence=-1, doc="The engine's QuantReport: every tensor, how it "
                             "is stored and its rounding error.")
    float_loss = param.Number(default=None, allow_None=True, precedence=-1,
                              doc="Validation loss of the float model; None without text.")
    quant_loss = param.Number(default=None, allow_None=True, precedence=-1,
                              doc="Validation loss of the quantized model.")
    eval_windows = param.Integer(default=0, precedence=-1,
                                 doc="How many windows of block_size tokens the losses average.")
    float_probs = param.Parameter(precedence=-1, doc="(V,) float64 next-token probabilities.")
    quant_probs = param.Parameter(precedence=-1, doc="(V,) the same from the quantized model.")

    def __init__(self, **params):
        super().__init__(**params)
        self.model = None  # the quantized copy (a GPT of the engine in use), once active
        self._keys: dict[str, object] = {}  # what each result was computed from
        self._refresh()

    @property
    def float_perplexity(self) -> float | None:
        return None if self.float_loss is None else math.exp(self.float_loss)

    @property
    def quant_perplexity(self) -> float | None:
        return None if self.quant_loss is None else math.exp(self.quant_loss)

    @param.depends("active", "fmt", "which", "session.weights_version", "session.trace",
                   "session.clock.playing", "session.training.clock.playing", watch=True)
    def _refresh(self) -> None:
        """Recompute whatever is stale. Keys hold the model object itself, not its id: a
        reset or new text installs a new model (and its trace arrives before the bumped
        weights_version), training changes the same model in place (and bumps the version).
        While training plays, the losses (two passes over 4,096 tokens) are measured every
        LOSSES_EVERY steps; a pause catches up."""
        if not self.active:
            return
        s = self.session
        weights = (s.model, s.weights_version)
        quantized = (*weights, self.fmt, self.which)
        shown = (*quantized, s.trace)
        quant, softmax = s.engine.quant, s.engine.layers.softmax
        updates = {}
        if self._keys.get("quantized") != quantized:
            choose = TENSOR_CHOICES[self.which]
            self.model, updates["report"] = quant.quantize_model(
                s.model, self.fmt, lambda name: choose(name, quant))
            self._keys["quantized"] = quantized
        if self._loss_due("quant_loss", quantized):
            updates["quant_loss"] = s.training.held_out_loss(self.model, EVAL_WINDOWS)
        if self._loss_due("float_loss", weights):
            updates["float_loss"] = s.training.held_out_loss(s.model, EVAL_WINDOWS)
            updates["eval_windows"] = s.training.held_out_windows(EVAL_WINDOWS)
        if self._keys.get("trace") is not s.trace:
            updates["float_probs"] = softmax(s.trace.logits[0, -1].astype(np.float64))
            self._keys["trace"] = s.trace
        if self._keys.get("shown") != shown:
            logits, _ = self.model.forward(s.trace.idx, head_mask=s.head_mask())
            updates["quant_probs"] = softmax(logits[0, -1].astype(np.float64))
            self._keys["shown"] = shown
        self.param.update(**updates)

    def _loss_due(self, name: str, key: tuple) -> bool:
        """Whether the loss `name` must be measured for `key` (model, weights_version, and
        the settings it depends on): not if it was for that key, nor, while training plays,
        for this model and settings fewer than LOSSES_EVERY steps ago. If due, it is
        recorded as measured now."""
        steps = len(self.session.training.history)
        last = self._keys.get(name)  # (key, steps taken then)
        if last is not None and (last[0] == key or (
                self.session.training.playing and last[0][0] is key[0]
                and last[0][2:] == key[2:] and 0 <= steps - last[1] < LOSSES_EVERY)):
            return False
        self._keys[name] = (key, steps)
        return True
