"""Training examples: a window slides over the token stream, and each window is a lesson.

A window of T tokens starting at i gives T examples at once:

    tokens  = [18, 47, 56, 57, 58,  1, 15, 47]          T = 4, i = 2
    x = tokens[i : i+T]     = [56, 57, 58,  1]
    y = tokens[i+1 : i+T+1] = [57, 58,  1, 15]
    # after [56] comes 57; after [56, 57] comes 58; ... after [56, 57, 58, 1] comes 15
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def window(tokens: np.ndarray, start: int, block_size: int) -> tuple[np.ndarray, np.ndarray]:
    """The context x and its next-token targets y for the window at `start`."""
    return tokens[start:start + block_size], tokens[start + 1:start + block_size + 1]


def n_windows(tokens: np.ndarray, block_size: int) -> int:
    """How many windows fit: the last one needs a target one past its end."""
    return max(0, len(tokens) - block_size)


def split_tokens(tokens: np.ndarray, val_fraction: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """The first (1 - val_fraction) of the stream for training, the rest for validation."""
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must lie in (0, 1), got {val_fraction}")
    n = int(len(tokens) * (1.0 - val_fraction))
    return tokens[:n], tokens[n:]


@dataclass(frozen=True)
class Batch:
    """B windows stacked: inputs, targets, and where in the token stream each window starts."""

    x: np.ndarray  # (B, T) token ids
    y: np.ndarray  # (B, T) the next token after each position of x
    starts: np.ndarray  # (B,)  x[b] == tokens[starts[b] : starts[b] + T]


def make_batch(tokens: np.ndarray, starts: np.ndarray, block_size: int) -> Batch:
    """Stack the windows that start at `starts`."""
    offsets = np.arange(block_size)
    rows = np.asarray(starts)[:, None] + offsets  # (B, T)
    return Batch(tokens[rows], tokens[rows + 1], np.asarray(starts))


class BatchSampler:
    """Draws batches of windows at random positions, reproducibly from a seed."""

    def __init__(self, tokens: np.ndarray, block_size: int, batch_size: int, seed: int = 0):
        if n_windows(tokens, block_size) < 1:
            raise ValueError(f"the text has {len(tokens)} tokens; training needs at least "
                             f"{block_size + 1} (block_size + 1)")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.tokens = np.asarray(tokens)
        self.block_size = block_size
        self.batch_size = batch_size
        self.rng = np.random.default_rng(seed)

    def __next__(self) -> Batch:
        starts = self.rng.integers(0, n_windows(self.tokens, self.block_size), self.batch_size)
        return make_batch(self.tokens, starts, self.block_size)

    def __iter__(self):
        return self


def evaluation_starts(tokens: np.ndarray, block_size: int, max_windows: int) -> np.ndarray:
    """Evenly spaced window starts covering the stream: a fixed, repeatable evaluation set."""
    n = n_windows(tokens, block_size)
    if n < 1:
        raise ValueError(f"{len(tokens)} tokens are too few for one window of {block_size}")
    return np.unique(np.linspace(0, n - 1, min(n, max_windows)).astype(np.int64))
