"""Turning logits into the next token: temperature, top-k, top-p, and generation.

For logits z over V tokens, the sampling distribution is built in three steps:
    temperature τ:  p = softmax(z / τ)        (τ = 0 means greedy: all mass on argmax z)
    top-k:          keep the k most likely tokens, renormalise
    top-p:          keep the smallest set of most likely tokens whose mass reaches p, renormalise
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from engine.layers import softmax
from engine.model import GPT, KVCache

MAX_NEW_TOKENS = 10_000


@dataclass(frozen=True)
class SamplingSettings:
    """How to pick the next token. top_k None and top_p 1.0 mean no filtering."""

    temperature: float = 1.0
    top_k: int | None = None
    top_p: float = 1.0

    def __post_init__(self):
        t, k, p = self.temperature, self.top_k, self.top_p
        if not isinstance(t, numbers.Real) or not math.isfinite(t) or t < 0:
            raise ValueError(f"temperature must be a finite number >= 0 (0 is greedy), got {t}")
        if k is not None and (not isinstance(k, int | np.integer) or isinstance(k, bool)
                              or k < 1):
            raise ValueError(f"top_k must be a whole number >= 1 (or None for off), got {k}")
        if not isinstance(p, numbers.Real) or not 0.0 < p <= 1.0:
            raise ValueError(f"top_p must lie in (0, 1], got {p}")


def next_token_probs(logits: np.ndarray, settings: SamplingSettings) -> np.ndarray:
    """(V,) logits -> (V,) float64 probabilities after temperature, top-k and top-p."""
    z = np.asarray(logits, dtype=np.float64)
    V = z.shape[-1]
    if settings.top_k is not None and settings.top_k > V:
        raise ValueError(f"top_k must be between 1 and the vocabulary size {V}, "
                         f"got {settings.top_k}")
    if settings.temperature == 0:
        probs = np.zeros(V)
        probs[np.argmax(z)] = 1.0
        return probs
    probs = softmax(z / settings.temperature)
    order = np.argsort(-probs, kind="stable")  # most likely first; ties keep id order
    keep = np.zeros(V, dtype=bool)
    n_keep = V if settings.top_k is None else settings.top_k
    if settings.top_p < 1.0:
        mass_before = np.cumsum(probs[order]) - probs[order]
        n_keep = min(n_keep, max(1, int(np.sum(mass_before < settings.top_p))))
    keep[order[:n_keep]] = True
    probs = np.where(keep, probs, 0.0)
    return probs / probs.sum()


def sample_token(probs: np.ndarray, rng: np.random.Generator) -> int:
    """Draw one id from `probs` by inverse-CDF sampling with one uniform number."""
    cdf = np.cumsum(probs)
    return int(min(np.searchsorted(cdf, rng.random() * cdf[-1], side="right"), len(cdf) - 1))


def check_max_new_tokens(n) -> int:
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or not 0 <= n <= MAX_NEW_TOKENS:
        raise ValueError(f"max_new_tokens must be a whole number from 0 to {MAX_NEW_TOKENS}, "
                         f"got {n!r}")
    return int(n)


def check_prompt(model: GPT, ids) -> list[int]:
    """A non-empty list of valid ids; a prompt longer than the context keeps its last
    block_size tokens (the model cannot see further back)."""
    ids = [int(i) for i in ids]
    if not ids:
        raise ValueError("the prompt is empty: give at least one token to continue from")
    V = model.config.vocab_size
    if min(ids) < 0 or max(ids) >= V:
        raise ValueError(f"prompt token ids must lie in [0, {V})")
    return ids[-model.config.block_size:]


@dataclass(frozen=True)
class GenerationStep:
    token: int  # the id that was sampled
    probs: np.ndarray  # (V,) the distribution it was drawn from


def generate_steps(model: GPT, prompt_ids, max_new_tokens: int,
                   settings: SamplingSettings | None = None, seed: int | None = 0,
                   use_cache: bool = True) -> Iterator[GenerationStep]:
    """Yield one GenerationStep per new token; each token is fed back as input.

    With `use_cache`, keys and values of earlier positions are kept (a KV cache), so each
    step runs the model on one new token. When the sequence outgrows the context window,
    positions shift and the cache is rebuilt from the last block_size tokens: the result is
    exactly what recomputing the whole window every step gives.
    """
    ids = check_prompt(model, prompt_ids)
    max_new_tokens = check_max_new_tokens(max_new_tokens)
    settings = settings or SamplingSettings()
    T_max = model.config.block_size
    rng = np.random.default_rng(seed)
    cache = KVCache() if use_cache else None
    pending = ids  # tokens the model has not seen yet
    for _ in range(max_new_tokens):
        if cache is None or len(cache) + len(pending) > T_max:
            cache = KVCache() if use_cache else None
            pending = ids[-T_max:]
        logits, _ = model.forward(np.array(pending), cache=cache)
        probs = next_token_probs(logits[-1], settings)
        token = sample_token(probs, rng)
        ids.append(token)
        pending = [token] if cache is not None else ids
        yield GenerationStep(token, probs)


def generate(model: GPT, prompt_ids, max_new_tokens: int,
             settings: SamplingSettings | None = None, seed: int | None = 0,
             use_cache: bool = True) -> list[int]:
    """The prompt's ids followed by `max_new_tokens` sampled ones."""
    steps = generate_steps(model, prompt_ids, max_new_tokens, settings, seed, use_cache)
    return [int(i) for i in prompt_ids] + [step.token for step in steps]
