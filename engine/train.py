"""Training: batches of windows -> loss -> gradients -> clipped AdamW update, step by step.

    trainer = Trainer(model, train_tokens, TrainConfig(steps=3000))
    report = trainer.step()          # or compute() then apply(): the lab shows the steps between

The command `napkin-gpt train` (app/cli/train.py) drives a Trainer from the terminal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from engine.data import Batch, BatchSampler, evaluation_starts, make_batch
from engine.model import GPT, Params
from engine.optim import AdamW, check_learning_rate, clip_grad_norm, cosine_lr
from engine.trace import Trace


@dataclass(frozen=True)
class TrainConfig:
    """How to train. `schedule` is "cosine" (warm-up, then decay to min_lr_ratio·lr over
    `steps`) or "constant" (lr throughout, as the dashboard's slider sets it)."""

    steps: int = 3000
    batch_size: int = 32
    lr: float = 3e-3
    schedule: str = "cosine"
    warmup_steps: int = 100
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    seed: int = 0

    def __post_init__(self):
        check_learning_rate(self.lr)
        if self.schedule not in ("cosine", "constant"):
            raise ValueError(f"schedule must be 'cosine' or 'constant', got {self.schedule!r}")
        if self.batch_size < 1 or self.steps < 0 or self.warmup_steps < 0:
            raise ValueError("batch_size must be >= 1, steps and warmup_steps >= 0")
        if not (math.isfinite(self.grad_clip) and self.grad_clip > 0):
            raise ValueError(f"grad_clip must be a finite number > 0, got {self.grad_clip}")


class TrainingDiverged(RuntimeError):
    """The loss blew up; the trainer has already restored the last good parameters."""


@dataclass
class ComputedStep:
    """A step's forward and backward pass over one batch, before the parameters change."""

    step: int  # the step number (0 for the first)
    batch: Batch  # the windows that were trained on
    trace: Trace  # the forward pass over the batch
    loss: float  # mean cross-entropy of the batch
    grads: Params  # gradients after clipping
    grad_norm: float  # global gradient norm before clipping


@dataclass
class StepReport(ComputedStep):
    """A finished step: what was computed, and the AdamW update it led to."""

    lr: float = 0.0  # learning rate used
    updates: Params | None = None  # parameter after - before


class Trainer:
    """Owns a model's optimizer and batch sampler and takes training steps.

    Before every update the parameters are copied: they are the last ones known to give a
    finite, sane loss. If a later loss is not finite, or exceeds 2·ln(V) (twice the loss of
    guessing uniformly, which no working run reaches), the trainer puts that copy back,
    together with the optimizer's state, and raises TrainingDiverged.
    """

    def __init__(self, model: GPT, train_tokens: np.ndarray, config: TrainConfig):
        self.model = model
        self.config = config
        self.optimizer = AdamW(model.params, config.lr, weight_decay=config.weight_decay)
        self.sampler = BatchSampler(train_tokens, model.config.block_size, config.batch_size,
                                    config.seed)
        self.step_count = 0
        self.divergence_loss = 2.0 * math.log(model.config.vocab_size)
        self._last_good = self._snapshot()

    def learning_rate(self, step: int) -> float:
        c = self.config
        if c.schedule == "constant":
            return c.lr
        return cosine_lr(step, c.lr, c.warmup_steps, max(c.steps, 1), c.min_lr_ratio)

    def set_lr(self, lr: float) -> None:
        """Change the (peak) learning rate from now on."""
        self.config = replace(self.config, lr=check_learning_rate(lr))

    def set_batch_size(self, batch_size: int) -> None:
        """Draw batches of `batch_size` windows from now on."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.sampler.batch_size = batch_size

    def step(self) -> StepReport:
        """One step: sample a batch, forward, loss, backward, clip, AdamW update."""
        return self.apply(self.compute())

    def compute(self) -> ComputedStep:
        """Forward and backward over the next batch; the parameters do not change yet.

        Raises TrainingDiverged (after restoring the last good parameters) if the loss at
        the current parameters is not finite or exceeds 2·ln(V).
        """
        batch = next(self.sampler)
        _, trace = self.model.forward(batch.x, batch.y)
        loss, grads = trace.loss, self.model.backward(trace)
        norm = clip_grad_norm(grads, self.config.grad_clip)
        if not (math.isfinite(loss) and math.isfinite(norm)) or loss > self.divergence_loss:
            self._restore(self._last_good)
            raise TrainingDiverged(
                f"training diverged at step {self.step_count}: loss {loss:.4g} "
                + ("is not finite" if not math.isfinite(loss) else
                   f"exceeds 2·ln(V) = {self.divergence_loss:.2f}")
                + f" (learning rate {self.learning_rate(self.step_count):.3g}). "
                "The parameters from before the last update are restored; "
                "lower the learning rate and train again.")
        return ComputedStep(self.step_count, batch, trace, loss, grads, norm)

    def apply(self, computed: ComputedStep) -> StepReport:
        """The AdamW update for a computed step (which must be the latest one)."""
        if computed.step != self.step_count:
            raise ValueError(f"step {computed.step} is stale; the trainer is at step "
                             f"{self.step_count}")
        self._last_good = self._snapshot()
        lr = self.learning_rate(self.step_count)
        self.optimizer.step(computed.grads, lr)
        before = self._last_good[0]
        updates = {n: p - before[n] for n, p in self.model.params.items()}
        self.step_count += 1
        return StepReport(**vars(computed), lr=lr, updates=updates)

    def _snapshot(self):
        return {n: p.copy() for n, p in self.model.params.items()}, self.optimizer.state()

    def _restore(self, snapshot) -> None:
        params, opt_state = snapshot
        for n, p in self.model.params.items():
            p[...] = params[n]
        self.optimizer.load_state(opt_state)


def evaluate(model: GPT, tokens: np.ndarray, max_windows: int = 512,
             batch_size: int = 64) -> float:
    """Mean loss over a fixed set of evenly spaced windows: repeatable to the last digit."""
    T = model.config.block_size
    starts = evaluation_starts(tokens, T, max_windows)
    total = 0.0
    for i in range(0, len(starts), batch_size):
        batch = make_batch(tokens, starts[i:i + batch_size], T)
        total += model.forward(batch.x, batch.y)[1].loss * len(batch.starts)
    return total / len(starts)


def unigram_loss(train_tokens: np.ndarray, val_tokens: np.ndarray, vocab_size: int) -> float:
    """Validation loss of a model that ignores context and predicts training frequencies
    (add-one smoothed): the baseline a GPT must beat."""
    counts = np.bincount(train_tokens, minlength=vocab_size) + 1.0
    log_p = np.log(counts / counts.sum())
    return float(-log_p[val_tokens].mean())
