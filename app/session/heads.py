"""Head roles kept up to date: every head's previous-token and induction score for the
session's model, for the views that draw them.

Views read a HeadRoles and never run a model. It works only while `active` (while a view
that shows it is on screen) and catches up when it becomes active again. Measured on

    "random"   one forward pass over a fixed random sequence of distinct characters,
               repeated: redone when the weights or the switched-off heads change
    "prompt"   the attention the session already computed for the prompt: no extra pass

While training plays, the random sequence is scored every `every` steps (the pass costs
a few percent of a step); a pause catches up.
"""

from __future__ import annotations

import numpy as np
import param

from app.session.session import LabSession

SEQUENCE_SEED = 0  # the fixed sequence: scores move only because the model does
SOURCES = {"random": "a random sequence, repeated", "prompt": "the prompt"}


class HeadRoles(param.Parameterized):
    """Previous-token and induction scores of every head of the session's model."""

    session = param.ClassSelector(class_=LabSession, doc="The reader's lab.")
    source = param.Selector(default="random", objects=list(SOURCES),
                            doc="What the heads are measured on.")
    active = param.Boolean(default=False, allow_refs=True,
                           doc="Compute only while True; a view passes its own `active`.")
    every = param.Integer(default=1, bounds=(1, None),
                          doc="While training plays, score the random sequence every this "
                              "many steps.")

    # ---- derived (views read these) ----------------------------------------------------------
    scores = param.Parameter(precedence=-1, doc="The latest engine HeadScores, or None.")
    note = param.String(default="", precedence=-1,
                        doc="Why a role could not be measured, in plain words; '' if it could.")
    measured_at = param.Integer(default=None, allow_None=True, precedence=-1,
                                doc="Training steps taken when the scores were measured.")

    def __init__(self, **params):
        super().__init__(**params)
        self._key = None  # what the scores were computed from
        self._refresh()

    def sequence(self) -> np.ndarray | None:
        """The repeated random sequence for the session's vocabulary, or None if the
        vocabulary is too small (fewer than 2 ordinary tokens)."""
        s = self.session
        unknown = getattr(s.tokenizer, "unknown_id", None)
        candidates = [i for i in range(s.config.vocab_size) if i != unknown]
        length = min(s.config.block_size // 2, len(candidates))
        if length < 2:
            return None
        heads = s.engine.heads
        return heads.repeated_random_tokens(candidates, length, SEQUENCE_SEED)

    @param.depends("active", "source", "session.trace", "session.weights_version",
                   "session.clock.playing", "session.training.clock.playing", watch=True)
    def _refresh(self) -> None:
        """Recompute if stale. The random sequence depends on the weights and the heads
        switched off (the session's trace changes with both), the prompt on the trace."""
        s = self.session
        if not self.active:
            return
        if self.source == "prompt":
            key = ("prompt", s.trace)
        elif self._scored_recently():
            return
        else:
            key = ("random", s.model, s.weights_version, tuple(map(tuple, s.heads_off)))
        if key != self._key:
            self._key = key
            self._measure()

    def _scored_recently(self) -> bool:
        """While training plays: whether the scores are fewer than `every` steps old."""
        s = self.session
        return (s.training.playing and self.measured_at is not None
                and 0 <= len(s.training.history) - self.measured_at < self.every)

    def _measure(self) -> None:
        s = self.session
        heads = s.engine.heads
        if self.source == "prompt":
            trace = s.trace
        else:
            idx = self.sequence()
            if idx is None:
                steps = len(s.training.history)
                self.param.update(scores=None, measured_at=steps, note=(
                    f"The vocabulary has {s.config.vocab_size} tokens: too few to make a "
                    "random sequence of at least 2 distinct ones."))
                return
            _, trace = s.model.forward(idx, head_mask=s.head_mask())
        scores = heads.head_scores(trace)
        self.param.update(scores=scores, measured_at=len(s.training.history),
                          note=self._describe_gaps(scores))

    def _describe_gaps(self, scores) -> str:
        """Why a role has no score on this sequence ('' when both have one)."""
        T = len(scores.idx)
        if scores.previous_queries == 0:
            return (f"The prompt has {T} token: a head score needs at least 2 (a token "
                    "before another), and a repeated token for induction. Type more.")
        if scores.induction_queries == 0:
            return ("No token of the prompt repeats, so no head can copy what followed it "
                    "before: the induction score needs a repeat (try typing a word twice).")
        return ""
