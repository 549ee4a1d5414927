"""A second model beside the session's: its next-token probabilities and its attention on the
same prompt, its loss on the same held-out text, and how far the two are apart.

    session.comparison.target = "shipped"     # what the session's model is compared with

    target    the second model
    shipped   the weights the lab shipped with
    start     the session's model as it was when training started (before its first step)
    zero      the last model that learned from zero, as far as it got
    q8_0      the session's model with its block matrices in llama.cpp's Q8_0 (or Q4_0):
    q4_0      what the file llama.cpp runs would compute, but for llama.cpp's own rounding
    code      the session's weights run by the shipped engine, while an edited one runs
    file      the model last opened from a file, as it was opened

Both models run the engine in use ("code" aside) on the session's prompt, at temperature 1,
with the session's switched-off heads when their shapes match. Their difference is the
engine's (compare.py): KL(this ‖ other) and the largest change at the last position, the
mean KL and the top-token agreement over every position. Models whose vocabularies or
contexts differ are not compared position by position: `reason` says so.

A LabSession holds one Comparison as `session.comparison`. It computes only while a view
that shows it is on screen (`show`) and catches up when one is shown again; while training
plays, the held-out losses are measured every LOSS_EVERY steps (a pause catches up).
"""

from __future__ import annotations

import numpy as np
import param

from app.i18n import N_
from app.session.code_runner import shipped_engine

TARGETS = {  # key -> the model, as the reader reads it (in their language where drawn)
    "none": N_("nothing"),
    "shipped": N_("the shipped model"),
    "start": N_("this model when training started"),
    "zero": N_("the model learning from zero"),
    "q8_0": N_("this model in Q8_0"),
    "q4_0": N_("this model in Q4_0"),
    "code": N_("this model before the code edit"),
    "file": N_("the model opened from a file"),
}
EVAL_WINDOWS = 32  # held-out windows of block_size tokens each loss averages
LOSS_EVERY = 10  # while training plays, the losses are measured every this many steps


class Comparison(param.Parameterized):
    """The session's model beside a second one, chosen by `target`."""

    target = param.Selector(default="none", objects=list(TARGETS),
                            doc="The model compared with the session's.")

    # ---- derived (views read these) ----------------------------------------------------------
    active = param.Boolean(default=False, precedence=-1,
                           doc="Whether a view that shows the comparison is on screen.")
    reason = param.String(default="", precedence=-1,
                          doc="Why nothing is compared, in plain words; '' when it is.")
    other = param.Parameter(precedence=-1, doc="The other model's Trace on the prompt.")
    same_shape = param.Boolean(default=False, precedence=-1,
                               doc="Whether both have the same blocks and heads (attention "
                                   "and switched-off heads compare one to one).")
    kl = param.Number(default=None, allow_None=True, precedence=-1,
                      doc="KL(this ‖ other) of the next token after the prompt, in nats.")
    kl_mean = param.Number(default=None, allow_None=True, precedence=-1,
                           doc="The same, averaged over every position of the prompt.")
    largest = param.Number(default=None, allow_None=True, precedence=-1,
                           doc="The largest change of one token's probability, last position.")
    agreement = param.Number(default=None, allow_None=True, precedence=-1,
                             doc="Share of the prompt's positions where both pick the same "
                                 "likeliest next token.")
    loss = param.Number(default=None, allow_None=True, precedence=-1,
                        doc="This model's loss on held-out text; None without it.")
    other_loss = param.Number(default=None, allow_None=True, precedence=-1,
                              doc="The other model's loss on the same windows.")
    eval_windows = param.Integer(default=0, precedence=-1,
                                 doc="Windows of block_size tokens the losses average.")
    measured_at = param.Integer(default=None, allow_None=True, precedence=-1,
                                doc="Training steps taken when the losses were measured.")

    def __init__(self, session, **params):
        """session: the LabSession whose model is compared."""
        super().__init__(**params)
        self.session = session
        self.model = None  # the other model (a GPT), once there is one
        self._shown_by: set[int] = set()
        self._keys: dict[str, object] = {}
        session.param.watch(lambda *_: self._refresh(), ["trace", "weights_version"])
        session.clock.param.watch(lambda *_: self._refresh(), "playing")

    @property
    def label(self) -> str:
        return TARGETS[self.target]

    def show(self, owner: object, shown: bool) -> None:
        """A view that shows the comparison is on screen (or no longer): it computes while
        any such view is."""
        if shown:
            self._shown_by.add(id(owner))
        else:
            self._shown_by.discard(id(owner))
        self.active = bool(self._shown_by)

    # ---- the other model ----------------------------------------------------------------------

    def _other_model(self):
        """(model, tokenizer, key) of the target, made again only when its key changes,
        or (None, None, why there is none)."""
        found = getattr(self, f"_{self.target}")()
        if isinstance(found, str):
            return None, None, found
        key, make, tokenizer = found
        if self._keys.get("model") != key:
            self.model = make()
        return self.model, tokenizer, key

    # each target: (key, how to make its model, its tokenizer), or why there is none

    def _shipped(self):
        s, shipped = self.session, self.session.training.shipped
        params = shipped.model.params
        return (("shipped", s.engine),
                lambda: s.make_model(shipped.model.config,
                                     params={n: p.copy() for n, p in params.items()}),
                shipped.tokenizer)

    def _start(self):
        s, start = self.session, self.session.training.start_params
        if start is None:
            return N_("Training has not started since this model was made: take a step "
                      "(Training view), and this compares the model with what it was before.")
        return (("start", s.engine, s.model),  # start_params is set once per model
                lambda: s.make_model(s.config, params=start), s.tokenizer)

    def _zero(self):
        s, zero = self.session, self.session.training.zero_model
        if zero is None:
            return N_("No model has learned from zero yet: press Learn from zero (Training "
                      "view).")
        if zero is s.model:
            return N_("The model shown is the one learning from zero: compare it with the "
                      "shipped model, or with itself when training started.")
        return (("zero", s.engine, zero), lambda: s.make_model(zero.config, params=zero.params),
                s.training.shipped.tokenizer)

    def _quantized(self, fmt: str):
        s, quant = self.session, self.session.engine.quant
        return ((fmt, s.engine, s.model, s.weights_version),
                lambda: quant.quantize_model(s.model, fmt, quant.is_block_matrix)[0],
                s.tokenizer)

    def _q8_0(self):
        return self._quantized("q8_0")

    def _q4_0(self):
        return self._quantized("q4_0")

    def _code(self):
        s = self.session
        if not s.engine.edited:
            return N_("The lab runs the shipped engine: edit the code (Code view) and press "
                      "Run, and this compares the same weights run by the shipped code and by "
                      "yours.")
        return (("code", s.engine, s.model, s.weights_version),
                lambda: s.make_model(s.config, shipped_engine(), params=s.model.params),
                s.tokenizer)

    def _file(self):
        s, checkpoint = self.session, self.session.opened.checkpoint
        if checkpoint is None:
            return N_("No model has been opened from a file yet: Open model… above.")
        model = checkpoint.model
        return (("file", s.engine, model),
                lambda: s.make_model(model.config, params=model.params), checkpoint.tokenizer)

    def _mismatch(self, model, tokenizer) -> str:
        """Why `model` cannot be compared position by position with the session's ('' if
        it can)."""
        s, c, tr = self.session, model.config, self.session.tr
        label = tr(self.label).capitalize()
        if tokenizer.to_dict() != s.tokenizer.to_dict():
            other = tr(", but other ones") if c.vocab_size == s.config.vocab_size else ""
            return tr("{label} reads {V:,} tokens and this model {ours:,}{other}: their "
                      "next-token probabilities are over different vocabularies, so they "
                      "cannot be compared position by position.", label=label,
                      V=c.vocab_size, ours=s.config.vocab_size, other=other)
        if c.block_size != s.config.block_size:
            return tr("{label} sees {T:,} tokens of context and this model {ours:,}: they "
                      "cannot be compared position by position, nor on the same held-out "
                      "windows.", label=label, T=c.block_size, ours=s.config.block_size)
        return ""

    # ---- keeping up --------------------------------------------------------------------------

    @param.depends("active", "target", watch=True)
    def _refresh(self) -> None:
        """Recompute whatever is stale (while a view that shows it is on screen)."""
        if not self.active:
            return
        if self.target == "none":
            self._clear("")
            return
        model, tokenizer, key = self._other_model()
        if model is None:
            self._clear(key)
            return
        mismatch = self._mismatch(model, tokenizer)
        if mismatch:
            self._clear(mismatch)
            return
        self._keys["model"] = key
        updates = {"reason": ""}
        s = self.session
        if self._keys.get("trace") != (key, s.trace):
            updates |= self._on_prompt(model)
            self._keys["trace"] = (key, s.trace)
        if not self._recent():  # each loss only when its model changed
            own = (s.model, s.weights_version)
            if self._keys.get("loss") != own:
                updates |= dict(loss=s.training.held_out_loss(s.model, EVAL_WINDOWS),
                                eval_windows=s.training.held_out_windows(EVAL_WINDOWS),
                                measured_at=len(s.training.history))
                self._keys["loss"] = own
            if self._keys.get("other_loss") != (key, s.model):  # s.model: the same text
                updates["other_loss"] = s.training.held_out_loss(model, EVAL_WINDOWS)
                self._keys["other_loss"] = (key, s.model)
        self.param.update(**updates)

    def _clear(self, reason: str) -> None:
        self._keys = {}
        self.param.update(reason=reason, other=None, same_shape=False, kl=None, kl_mean=None,
                          largest=None, agreement=None, loss=None, other_loss=None,
                          eval_windows=0, measured_at=None)

    def _on_prompt(self, model) -> dict:
        """The other model on the session's prompt, and how far apart the two are."""
        s = self.session
        c, mine = model.config, s.config
        same_shape = (c.n_layer, c.n_head) == (mine.n_layer, mine.n_head)
        mask = s.head_mask() if same_shape else None
        _, other = model.forward(s.trace.idx, head_mask=mask)
        compare, softmax = s.engine.compare, s.engine.layers.softmax
        p = softmax(s.trace.logits[0].astype(np.float64))  # (T, V), at temperature 1
        q = softmax(other.logits[0].astype(np.float64))
        return dict(other=other, same_shape=same_shape,
                    kl=float(compare.kl_divergence(p[-1], q[-1])),
                    kl_mean=float(compare.kl_divergence(p, q).mean()),
                    largest=float(compare.largest_change(p[-1], q[-1])),
                    agreement=compare.top_agreement(p, q))

    def _recent(self) -> bool:
        """While training plays: whether the losses are fewer than LOSS_EVERY steps old."""
        s = self.session
        steps = len(s.training.history)
        return (s.clock.playing and s.mode == "train" and self.measured_at is not None
                and 0 <= steps - self.measured_at < LOSS_EVERY)
