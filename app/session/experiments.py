"""The experiments the tour checks a reader's predictions against, run on the session's model.

A part of the session, like HeadRoles: given the LabSession, it runs the engine's
experiments (engine/experiments.py, of the engine in use, so an edited engine answers with
its own code) on the session's model, prompt and text, and keeps each result until what it
was computed from changes. Nothing runs until asked: the tour asks only for the chapter on
screen, and the costly experiments (training two tiny models) only on the reader's answer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import param

from app.session.heads import HeadRoles
from app.session.session import LabSession

QUANT_FORMATS = ("f32", "q8_0", "q4_0")  # the GGUF files the tour weighs


@dataclass(frozen=True)
class Quantized:
    """The model rounded to `fmt` (its block matrices) beside the float one, and the size of
    each GGUF file of it."""

    fmt: str
    float_top: int  # the likeliest next token of the float model
    float_p: float
    top: int  # the likeliest next token of the quantized model
    p: float
    file_bytes: dict[str, int | None]  # GGUF type -> bytes of the file (None: cannot export)


class Experiments(param.Parameterized):
    """Experiments on the session's model, each computed once per state it depends on."""

    session = param.ClassSelector(class_=LabSession, doc="The reader's lab.")

    def __init__(self, **params):
        super().__init__(**params)
        self._cache: dict[str, tuple[object, object]] = {}  # name -> (key, result)
        self._roles = HeadRoles(session=self.session)  # never active: asked directly

    def _cached(self, name: str, key: tuple, compute: Callable[[], object]):
        """The result of `compute` for `key`, computed again only when `key` changes."""
        held = self._cache.get(name)
        if held is None or not _same(held[0], key):
            held = (key, compute())
            self._cache[name] = held
        return held[1]

    def _weights(self) -> tuple:
        """What a result about the model depends on: the engine, the model and its weights."""
        s = self.session
        return s.engine, s.model, s.weights_version

    # ---- cheap: the prompt's trace, sampling, the loss of guessing --------------------------

    def strongest_key(self) -> tuple[int, float]:
        """The key the shown head (session.layer, session.head) attends to most from the
        chosen position, and its weight."""
        s = self.session
        att = s.trace.blocks[s.layer].att[0, s.head]
        key = s.engine.experiments.strongest_key(att, s.query_position)
        return key, float(att[s.query_position, key])

    def top_probability(self, temperature: float) -> tuple[int, float]:
        """The likeliest next token and its probability at `temperature`, with the
        session's top-k and top-p."""
        s = self.session
        settings = s.engine.sampling.SamplingSettings(temperature, s.top_k or None, s.top_p)
        return s.engine.experiments.top_probability(s.trace.logits[0, -1], settings)

    def uniform_loss(self) -> float:
        return self.session.engine.experiments.uniform_loss(self.session.config.vocab_size)

    def lens(self):
        """The logit lens at the chosen position (an engine LensReading)."""
        s = self.session
        return self._cached("lens", (s.trace, s.query_position), lambda: s.engine.lens.logit_lens(
            s.trace, s.model.params, s.query_position))

    def first_depth_of_final(self) -> int:
        return self.session.engine.experiments.first_depth_of_final(self.lens())

    def bpe_count(self) -> int | None:
        """How many tokens the shipped byte-pair encoding cuts the prompt into (None if
        these weights came without one)."""
        s = self.session
        if s.bpe is None:
            return None
        return self._cached("bpe", (s.bpe, tuple(s.ids)),
                            lambda: len(s.bpe.encode(s.tokenizer.decode(s.ids))))

    def head_roles(self):
        """Every head's previous-token and induction score on the repeated random sequence
        (an engine HeadScores), or None if the vocabulary is too small for one."""
        s = self.session
        heads = tuple(map(tuple, s.heads_off))

        def measure():
            idx = self._roles.sequence()
            if idx is None:
                return None
            return s.engine.heads.head_scores(s.model.forward(idx, head_mask=s.head_mask())[1])

        return self._cached("roles", (*self._weights(), heads), measure)

    # ---- a few forward passes ---------------------------------------------------------------

    def ablation(self):
        """Each head switched off alone on the prompt (an engine Ablation)."""
        s = self.session
        return self._cached("ablation", (*self._weights(), tuple(s.ids)),
                            lambda: s.engine.experiments.head_ablation(s.model, np.array(s.ids)))

    def quantized(self, fmt: str = "q4_0") -> Quantized:
        """The model's block matrices rounded to `fmt`, run on the prompt, and the bytes of
        its GGUF file in each of QUANT_FORMATS."""
        s = self.session
        return self._cached(f"quantized {fmt}", (*self._weights(), tuple(s.ids), s.tokenizer),
                            lambda: self._quantize(fmt))

    def _quantize(self, fmt: str) -> Quantized:
        s = self.session
        quant, gguf, softmax = s.engine.quant, s.engine.gguf_file, s.engine.layers.softmax
        model, _ = quant.quantize_model(s.model, fmt)
        p = softmax(s.trace.logits[0, -1].astype(np.float64))
        q = softmax(model.forward(np.array(s.ids))[0][-1].astype(np.float64))
        sizes: dict[str, int | None] = {}
        for kind in QUANT_FORMATS:
            try:
                sizes[kind] = gguf.gguf_size(gguf.gguf_metadata(s.config, s.tokenizer, kind),
                                             gguf.gguf_tensors(s.model, kind))
            except (gguf.GGUFError, TypeError, AttributeError):
                sizes[kind] = None  # a tokenizer GGUF cannot hold
        top, float_top = int(np.argmax(q)), int(np.argmax(p))
        return Quantized(fmt, float_top, float(p[float_top]), top, float(q[top]), sizes)

    # ---- training two tiny models -------------------------------------------------------------

    def mask_experiment(self):
        """Two tiny models trained with and without the causal mask on the session's text
        (an engine MaskExperiment), or None without enough text."""
        s = self.session
        tokens, experiments = s.train_tokens, s.engine.experiments
        if len(tokens) < experiments.MIN_TOKENS:
            return None
        layers = s.engine.kernels.readable(s.engine.layers)
        return self._cached("mask", (s.engine, s.seed, tokens),
                            lambda: experiments.causal_mask_experiment(
                                layers, tokens, s.config.vocab_size, s.seed))


def _same(a: tuple, b: tuple) -> bool:
    """Whether two keys name the same state: arrays by identity, the rest by equality."""
    return len(a) == len(b) and all(
        x is y or (not isinstance(x, np.ndarray) and not isinstance(y, np.ndarray) and x == y)
        for x, y in zip(a, b, strict=True))
