"""Head roles: which attention heads look at the previous token, and which do induction.

A role is a pattern of where each query should look, as a (T, T) mask of target keys:

    previous token   query i looks at key i - 1
    induction        query i looks at the token that came after an earlier copy of its own
                     token: in "... A B ... A" the last A looks at B, so the model can
                     predict B again (Olsson et al. 2022, "In-context learning and induction
                     heads")

A head's score for a role is the attention weight it puts on the target keys, averaged over
the queries that have any. 1 means it follows the pattern exactly; a head that spreads its
attention evenly over i + 1 keys scores about 1 / (i + 1). For "abcab" (ids below):

    idx                  a  b  c  a  b
    previous targets     -  a  b  c  a      query 3 (a) looks at key 2 (c)
    induction targets    -  -  -  b  c      query 3 (a) looks at key 1 (b), after the a at 0

The scores are measured on a random sequence repeated twice: its second half can only be
predicted by copying from the first, which is what an induction head does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.trace import Trace


def previous_token_targets(idx) -> np.ndarray:
    """(T, T) booleans: True at (i, i - 1), where query i would look at the token before it."""
    T = len(idx)
    return np.eye(T, T, -1, dtype=bool)


def induction_targets(idx) -> np.ndarray:
    """(T, T) booleans: True at (i, j) when the token before key j equals token i and j < i:
    key j is what followed an earlier copy of the query's token."""
    idx = np.asarray(idx)
    T = len(idx)
    targets = np.zeros((T, T), dtype=bool)
    # key j (j >= 1) follows the token idx[j - 1]; it is a target of query i if that token is
    # idx[i] and j < i (strictly: a query looking at itself is not copying from the past)
    targets[:, 1:] = idx[:, None] == idx[None, :-1]
    return targets & np.tri(T, T, -1, dtype=bool)


def pattern_score(att: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """The attention weight on the target keys, averaged over the queries that have any.

    att: (..., T, T) attention weights (rows sum to 1); targets: (T, T) booleans.
    Returns (...,). Raises ValueError if no query has a target key (a sequence too short,
    or without a repeated token, for the pattern).
    """
    targets = np.asarray(targets, dtype=bool)
    if att.shape[-2:] != targets.shape:
        raise ValueError(f"attention of shape {att.shape[-2:]} and targets of shape "
                         f"{targets.shape} differ")
    scored = targets.any(axis=-1)  # (T,) queries that have a target
    if not scored.any():
        raise ValueError("no query has a key to look at in this pattern: the sequence is "
                         "too short for it, or (for induction) no token repeats")
    on_targets = (att * targets).sum(axis=-1)  # (..., T)
    return on_targets[..., scored].mean(axis=-1)


@dataclass(frozen=True)
class HeadScores:
    """Each head's score for each role, measured on the sequence `idx`."""

    idx: np.ndarray  # (T,) the tokens the scores were measured on
    previous: np.ndarray  # (n_layer, nh) previous-token score; NaN if unmeasurable
    induction: np.ndarray  # (n_layer, nh) induction score; NaN if unmeasurable
    previous_queries: int  # how many queries the previous-token score averages over
    induction_queries: int  # how many queries the induction score averages over


def head_scores(trace: Trace, row: int = 0) -> HeadScores:
    """Both roles' scores for every head, from the attention of sequence `row` of a trace.

    A role no query can be scored on (a one-token sequence has no previous token; one
    without a repeated token has no induction target) gets NaN and 0 queries.
    """
    idx = np.asarray(trace.idx[row])
    att = np.stack([b.att[row] for b in trace.blocks])  # (n_layer, nh, T, T)
    roles = {}
    for name, targets in (("previous", previous_token_targets(idx)),
                          ("induction", induction_targets(idx))):
        queries = int(targets.any(axis=-1).sum())
        score = (pattern_score(att, targets) if queries
                 else np.full(att.shape[:2], np.nan))
        roles[name] = (score.astype(np.float64), queries)
    return HeadScores(idx, roles["previous"][0], roles["induction"][0],
                      roles["previous"][1], roles["induction"][1])


def repeated_random_tokens(candidates, length: int, seed: int = 0) -> np.ndarray:
    """`length` distinct tokens drawn at random from `candidates`, then the same again:
    (2 * length,) ids. Distinct, so that every token of the second half has exactly one
    earlier copy, and one induction target."""
    candidates = np.unique(np.asarray(candidates))
    if length < 2:
        raise ValueError(f"the repeated sequence needs at least 2 tokens per half, got {length}")
    if length > len(candidates):
        raise ValueError(f"cannot draw {length} distinct tokens from {len(candidates)}")
    half = np.random.default_rng(seed).choice(candidates, size=length, replace=False)
    return np.concatenate([half, half])
