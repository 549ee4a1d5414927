"""Comparing two next-token distributions: how far one model's guesses are from another's.

`p` is the reference (the float model, say) and `q` the one compared with it (its quantized
copy, an edited model, a second model). Each function takes one distribution, shape (V,),
or many at once, shape (..., V): every position of a sequence, every sequence of a batch.
The last axis is the vocabulary; p and q must have the same shape.

    KL(p ‖ q) = Σᵥ pᵥ ln(pᵥ / qᵥ)     in nats; 0 when q = p, larger the more q is surprised
                                      by what p expects (not symmetric: KL(q ‖ p) differs)
    largest change = maxᵥ |pᵥ - qᵥ|   the most any one token's probability moved
    top-token agreement               the share of positions where both pick the same
                                      likeliest token (ties go to the lower id)

For p = (0.75, 0.25, 0) and q = (0.5, 0.25, 0.25): KL = 0.75 ln 1.5 = 0.304 nats (token 2,
which p never picks, adds nothing), the largest change is 0.25, and both pick token 0.
"""

from __future__ import annotations

import numpy as np


def _pair(p, q) -> tuple[np.ndarray, np.ndarray]:
    """p and q as float64 arrays of one shape, at least (V,)."""
    p, q = np.asarray(p, dtype=np.float64), np.asarray(q, dtype=np.float64)
    if p.shape != q.shape or p.ndim == 0:
        raise ValueError(f"cannot compare distributions of shapes {p.shape} and {q.shape}: "
                         "they need one shape, the vocabulary last")
    return p, q


def kl_divergence(p, q) -> np.ndarray:
    """(..., V), (..., V) -> (...) KL(p ‖ q) in nats; a float for one pair of (V,).

    Tokens that p gives no chance add nothing (0 ln 0 = 0), so they are skipped. A token
    that q gives probability 0 where p does not makes the divergence inf: q rules out
    something p expects, and no finite number of nats measures that surprise.
    """
    p, q = _pair(p, q)
    seen = p > 0
    with np.errstate(divide="ignore"):  # ln 0 = -inf where q rules a token out: KL is inf
        log_ratio = np.log(np.where(seen, p, 1.0)) - np.log(np.where(seen, q, 1.0))
    return np.where(seen, p * log_ratio, 0.0).sum(axis=-1)


def largest_change(p, q) -> np.ndarray:
    """(..., V), (..., V) -> (...) the largest |pᵥ - qᵥ| over the vocabulary."""
    p, q = _pair(p, q)
    return np.abs(p - q).max(axis=-1)


def top_agreement(p, q) -> float:
    """(..., V), (..., V) -> the share of positions whose likeliest token is the same under
    p and q: 1.0 or 0.0 for one pair of (V,)."""
    p, q = _pair(p, q)
    return float(np.mean(p.argmax(axis=-1) == q.argmax(axis=-1)))
