"""Comparing next-token distributions (engine/compare.py) against sums written out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.compare import kl_divergence, largest_change, top_agreement
from engine.layers import softmax


def test_the_docstrings_example_by_hand():
    p, q = [0.75, 0.25, 0.0], [0.5, 0.25, 0.25]
    assert kl_divergence(p, q) == pytest.approx(0.75 * math.log(0.75 / 0.5)
                                                + 0.25 * math.log(0.25 / 0.25))
    assert largest_change(p, q) == pytest.approx(0.25)
    assert top_agreement(p, q) == 1.0


def test_kl_is_zero_for_equal_distributions_and_not_symmetric():
    p = softmax(np.random.default_rng(0).normal(size=50))
    q = softmax(np.random.default_rng(1).normal(size=50))
    assert kl_divergence(p, p) == pytest.approx(0.0, abs=1e-15)
    assert kl_divergence(p, q) > 0 and kl_divergence(q, p) > 0
    assert kl_divergence(p, q) != pytest.approx(kl_divergence(q, p))
    expected = sum(a * math.log(a / b) for a, b in zip(p, q, strict=True))
    assert kl_divergence(p, q) == pytest.approx(expected, rel=1e-12)


def test_tokens_the_first_rules_out_are_skipped_those_the_second_rules_out_are_inf():
    assert kl_divergence([0.5, 0.5, 0.0], [0.5, 0.5, 0.0]) == 0.0  # no nan from 0 ln 0/0
    assert kl_divergence([1.0, 0.0], [0.5, 0.5]) == pytest.approx(math.log(2))
    with np.errstate(all="raise"):  # and no warning on the way
        assert kl_divergence([0.5, 0.5], [1.0, 0.0]) == math.inf


def test_many_positions_at_once_match_one_at_a_time():
    rng = np.random.default_rng(2)
    p = softmax(rng.normal(size=(3, 4, 11)) * 2)
    q = softmax(rng.normal(size=(3, 4, 11)) * 2)
    kl, change = kl_divergence(p, q), largest_change(p, q)
    assert kl.shape == change.shape == (3, 4)
    for i in range(3):
        for t in range(4):
            assert kl[i, t] == pytest.approx(kl_divergence(p[i, t], q[i, t]), rel=1e-12)
            assert change[i, t] == max(abs(a - b) for a, b in zip(p[i, t], q[i, t],
                                                                  strict=True))
    same = [int(np.argmax(p[i, t]) == np.argmax(q[i, t])) for i in range(3) for t in range(4)]
    assert top_agreement(p, q) == pytest.approx(sum(same) / 12)
    assert 0 < sum(same) < 12  # the test compares some of each


def test_top_agreement_of_one_position_is_yes_or_no():
    assert top_agreement([0.1, 0.7, 0.2], [0.2, 0.5, 0.3]) == 1.0
    assert top_agreement([0.1, 0.7, 0.2], [0.2, 0.3, 0.5]) == 0.0
    assert top_agreement([[0.6, 0.4], [0.3, 0.7]], [[0.9, 0.1], [0.8, 0.2]]) == 0.5


def test_mismatched_shapes_are_refused():
    with pytest.raises(ValueError, match="shapes"):
        kl_divergence(np.ones(4) / 4, np.ones(5) / 5)
    with pytest.raises(ValueError, match="shapes"):
        largest_change(0.5, 0.5)
