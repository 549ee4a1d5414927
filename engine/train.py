"""Training: batches of windows -> loss -> gradients -> clipped AdamW update, step by step.

    python -m engine.train --text corpus.txt --out weights/      (or: napkin-gpt train ...)
"""

from __future__ import annotations

import argparse
import math
import platform
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from engine.char_tokenizer import CharTokenizer
from engine.corpus import sha256_hex
from engine.data import Batch, BatchSampler, evaluation_starts, make_batch, split_tokens
from engine.model import GPT, GPTConfig, Params
from engine.optim import AdamW, check_learning_rate, clip_grad_norm, cosine_lr
from engine.sampling import SamplingSettings, generate
from engine.trace import Trace
from engine.weights import save_weights


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
        loss, grads, trace = self.model.loss_grads_trace(batch.x, batch.y)
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
        total += model.loss(batch.x, batch.y) * len(batch.starts)
    return total / len(starts)


def unigram_loss(train_tokens: np.ndarray, val_tokens: np.ndarray, vocab_size: int) -> float:
    """Validation loss of a model that ignores context and predicts training frequencies
    (add-one smoothed): the baseline a GPT must beat."""
    counts = np.bincount(train_tokens, minlength=vocab_size) + 1.0
    log_p = np.log(counts / counts.sum())
    return float(-log_p[val_tokens].mean())


# ---- the command line ---------------------------------------------------------------------

class ProgressBar:
    """One self-rewriting terminal line: step, bar, loss, lr, speed and time left."""

    def __init__(self, total: int, stream=sys.stderr, width: int = 24):
        self.total, self.stream, self.width = total, stream, width
        self.start = self.drawn = time.perf_counter()

    def update(self, done: int, loss: float, lr: float) -> None:
        now = time.perf_counter()
        if now - self.drawn < 0.2 and done < self.total:
            return  # redraw at most five times a second
        self.drawn = now
        elapsed = now - self.start
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - done) / rate if rate else 0.0
        filled = int(self.width * done / max(self.total, 1))
        bar = "#" * filled + "." * (self.width - filled)
        self.stream.write(f"\rstep {done:>5}/{self.total} [{bar}] loss {loss:.4f} "
                          f"lr {lr:.2e} {rate:5.1f} it/s eta {eta:5.0f}s ")
        self.stream.flush()

    def close(self) -> None:
        self.stream.write("\n")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="napkin-gpt train",
                                description="Train a character-level GPT on a text file.")
    p.add_argument("--text", required=True, type=Path, help="UTF-8 text file to train on")
    p.add_argument("--out", required=True, type=Path, help="folder to write the weights to")
    p.add_argument("--n-layer", type=int, default=3)
    p.add_argument("--n-head", type=int, default=4)
    p.add_argument("--n-embd", type=int, default=64)
    p.add_argument("--block-size", type=int, default=64)
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--warmup-steps", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--eval-interval", type=int, default=250)
    p.add_argument("--eval-windows", type=int, default=512)
    p.add_argument("--val-fraction", type=float, default=0.1)
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    text = args.text.read_text(encoding="utf-8")
    tokenizer = CharTokenizer.from_text(text)
    tokens = np.array(tokenizer.encode(text), dtype=np.int64)
    train_tokens, val_tokens = split_tokens(tokens, args.val_fraction)
    config = GPTConfig(tokenizer.vocab_size, args.block_size, args.n_layer, args.n_head,
                       args.n_embd)
    model = GPT(config, seed=args.seed, dtype=np.dtype(args.dtype).type)
    train_config = TrainConfig(steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                               warmup_steps=args.warmup_steps, seed=args.seed)
    trainer = Trainer(model, train_tokens, train_config)
    baseline = unigram_loss(train_tokens, val_tokens, tokenizer.vocab_size)
    print(f"{len(text):,} characters, vocabulary {tokenizer.vocab_size}, "
          f"{config.n_params:,} parameters; unigram baseline val loss {baseline:.4f}")

    def losses() -> tuple[float, float]:
        return (evaluate(model, train_tokens, args.eval_windows),
                evaluate(model, val_tokens, args.eval_windows))

    start = time.perf_counter()
    bar = ProgressBar(args.steps)
    status = "completed"
    try:
        for step in range(args.steps):
            report = trainer.step()
            bar.update(step + 1, report.loss, report.lr)
            if (step + 1) % args.eval_interval == 0 or step + 1 == args.steps:
                train_loss, val_loss = losses()
                bar.stream.write(f"\n  step {step + 1}: train loss {train_loss:.4f}, "
                                 f"val loss {val_loss:.4f}\n")
    except TrainingDiverged as e:
        status = f"stopped: {e}"
        bar.close()
        print(e, file=sys.stderr)
    wall = time.perf_counter() - start
    train_loss, val_loss = losses()
    sample_ids = generate(model, tokenizer.encode("\n"), 300, SamplingSettings(0.8), seed=0)
    record = {
        "corpus_file": args.text.name,
        "corpus_sha256": sha256_hex(text.encode("utf-8")),
        "command": "napkin-gpt train " + " ".join(sys.argv[1:] if argv is None else argv),
        "train_config": vars(train_config),
        "val_fraction": args.val_fraction,
        "eval_windows": args.eval_windows,
        "steps_done": trainer.step_count,
        "status": status,
        "wall_time_s": round(wall, 1),
        "final_train_loss": round(train_loss, 4),
        "final_val_loss": round(val_loss, 4),
        "unigram_val_loss": round(baseline, 4),
        "sample": {"prompt": "\n", "temperature": 0.8, "seed": 0,
                   "text": tokenizer.decode(sample_ids)},
        "python": platform.python_version(),
        "numpy": np.__version__,
    }
    save_weights(args.out, model, tokenizer, record)
    print(f"train loss {train_loss:.4f}, val loss {val_loss:.4f} "
          f"(unigram {baseline:.4f}) after {trainer.step_count} steps in {wall:.0f} s; "
          f"wrote {args.out}")
    return 0 if status == "completed" else 1


if __name__ == "__main__":
    raise SystemExit(main())
