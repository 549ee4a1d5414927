"""`napkin-gpt train`: train a character-level GPT on a text file, with a progress bar."""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np

from engine.char_tokenizer import CharTokenizer
from engine.corpus import sha256_hex
from engine.data import split_tokens
from engine.model import GPT, GPTConfig
from engine.sampling import SamplingSettings, generate
from engine.train import TrainConfig, Trainer, TrainingDiverged, evaluate, unigram_loss
from engine.weights import save_weights


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
