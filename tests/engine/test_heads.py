"""Head roles (engine/heads.py): previous-token and induction scores, checked on attention
patterns built by hand, where the right answer is known without the code under test."""

from __future__ import annotations

import numpy as np
import pytest

from engine import GPTConfig
from engine.heads import (
    head_scores,
    induction_targets,
    pattern_score,
    previous_token_targets,
    repeated_random_tokens,
)
from tests.support.models import random_model

L = 6  # half of the repeated sequence
SEQ = np.array([5, 2, 9, 7, 1, 3] * 2)  # distinct tokens, repeated: T = 12


def pattern(T: int, looks_at) -> np.ndarray:
    """(T, T) attention rows that put all weight on key looks_at(i) (clipped to 0..i)."""
    att = np.zeros((T, T))
    for i in range(T):
        att[i, min(max(looks_at(i), 0), i)] = 1.0
    return att


def uniform(T: int) -> np.ndarray:
    """Causal attention spread evenly: row i puts 1 / (i + 1) on each of keys 0..i."""
    return np.tril(np.ones((T, T))) / np.arange(1, T + 1)[:, None]


def test_targets_of_the_docstring_example():
    idx = np.array([0, 1, 2, 0, 1])  # "abcab"
    prev, ind = previous_token_targets(idx), induction_targets(idx)
    assert [list(np.flatnonzero(row)) for row in prev] == [[], [0], [1], [2], [3]]
    assert [list(np.flatnonzero(row)) for row in ind] == [[], [], [], [1], [2]]


def test_a_previous_token_head_scores_one_and_no_induction():
    att = pattern(12, lambda i: i - 1)
    assert pattern_score(att, previous_token_targets(SEQ)) == 1.0
    assert pattern_score(att, induction_targets(SEQ)) == 0.0


def test_an_induction_head_scores_one_and_no_previous_token():
    # second half: query L + m looks at m + 1, the token after the first copy of its own
    att = pattern(12, lambda i: i - L + 1 if i >= L else i)
    assert pattern_score(att, induction_targets(SEQ)) == 1.0
    assert pattern_score(att, previous_token_targets(SEQ)) == 0.0


def test_a_head_that_looks_at_itself_does_neither():
    att = np.eye(12)
    assert pattern_score(att, previous_token_targets(SEQ)) == 0.0
    assert pattern_score(att, induction_targets(SEQ)) == 0.0


def test_even_attention_scores_the_mean_of_one_over_the_keys_it_sees():
    att = uniform(12)
    # previous token: every query i >= 1 sees i + 1 keys, one of them the target
    assert pattern_score(att, previous_token_targets(SEQ)) == pytest.approx(
        np.mean([1 / (i + 1) for i in range(1, 12)]), abs=1e-15)
    # induction: only the second half's queries have a target, one each
    assert pattern_score(att, induction_targets(SEQ)) == pytest.approx(
        np.mean([1 / (i + 1) for i in range(L, 12)]), abs=1e-15)


def test_half_the_weight_on_the_target_scores_a_half():
    att = 0.5 * pattern(12, lambda i: i - 1) + 0.5 * pattern(12, lambda i: i)
    att[0] = [1.0] + [0.0] * 11
    assert pattern_score(att, previous_token_targets(SEQ)) == pytest.approx(0.5)


def test_scores_are_per_head_over_any_leading_axes():
    att = np.stack([pattern(12, lambda i: i - 1), uniform(12), np.eye(12)])  # 3 heads
    scores = pattern_score(att[None], previous_token_targets(SEQ))  # (1, 3)
    assert scores.shape == (1, 3)
    assert scores[0, 0] == 1.0 and scores[0, 2] == 0.0 and 0 < scores[0, 1] < 1


def test_a_repeat_of_several_copies_counts_the_weight_on_all_of_them():
    idx = np.array([4, 8, 4, 6, 4])  # the last 4 follows two earlier 4s: keys 1 and 3
    ind = induction_targets(idx)
    assert list(np.flatnonzero(ind[4])) == [1, 3]
    att = np.zeros((5, 5))
    att[:, 0] = 1.0
    att[4] = [0.2, 0.3, 0.0, 0.4, 0.1]
    att[2] = [0.0, 1.0, 0.0, 0.0, 0.0]  # query 2 (a 4) looks at key 1, after the 4 at 0
    assert pattern_score(att, ind) == pytest.approx((1.0 + 0.7) / 2)


def test_a_sequence_shorter_than_the_pattern_is_refused():
    one = np.array([3])
    with pytest.raises(ValueError, match="too short"):
        pattern_score(np.ones((1, 1)), previous_token_targets(one))
    no_repeat = np.array([1, 2, 3, 4])
    with pytest.raises(ValueError, match="no token repeats"):
        pattern_score(uniform(4), induction_targets(no_repeat))
    with pytest.raises(ValueError, match="differ"):
        pattern_score(uniform(4), previous_token_targets(SEQ))


def test_head_scores_of_a_trace_and_unmeasurable_roles():
    config = GPTConfig(vocab_size=13, block_size=12, n_layer=2, n_head=3, n_embd=12)
    model = random_model(config, seed=2)
    _, trace = model.forward(SEQ)
    scores = head_scores(trace)
    att = np.stack([b.att[0] for b in trace.blocks])
    np.testing.assert_array_equal(scores.previous,
                                  pattern_score(att, previous_token_targets(SEQ)))
    np.testing.assert_array_equal(scores.induction, pattern_score(att, induction_targets(SEQ)))
    assert scores.previous.shape == (2, 3) and (scores.previous_queries,
                                                scores.induction_queries) == (11, L)
    _, short = model.forward(np.array([4]))
    scores = head_scores(short)
    assert np.isnan(scores.previous).all() and np.isnan(scores.induction).all()
    assert scores.previous_queries == scores.induction_queries == 0
    _, no_repeat = model.forward(np.array([1, 2, 3]))
    scores = head_scores(no_repeat)
    assert not np.isnan(scores.previous).any() and np.isnan(scores.induction).all()


def test_the_repeated_random_sequence():
    seq = repeated_random_tokens(range(70), 32, seed=4)
    assert seq.shape == (64,) and np.array_equal(seq[:32], seq[32:])
    assert len(set(seq[:32].tolist())) == 32 and set(seq.tolist()) <= set(range(70))
    assert np.array_equal(seq, repeated_random_tokens(range(70), 32, seed=4))
    assert not np.array_equal(seq, repeated_random_tokens(range(70), 32, seed=5))
    assert induction_targets(seq).any(axis=-1).sum() == 32  # one target per second-half query
    with pytest.raises(ValueError, match="distinct"):
        repeated_random_tokens(range(5), 6)
    with pytest.raises(ValueError, match="at least 2"):
        repeated_random_tokens(range(5), 1)
