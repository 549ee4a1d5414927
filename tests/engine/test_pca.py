"""The principal plane of a matrix's rows (engine/pca.py), on matrices whose principal
directions are known because we built them."""

from __future__ import annotations

import numpy as np
import pytest

from engine.pca import framing, principal_plane, project


def planted(n: int = 200, width: int = 6, seed: int = 0):
    """Rows spread 10 along u1, 3 along u2 and 0.01 elsewhere, around a mean of 5s: the
    principal directions are u1, then u2. Returns (matrix, u1, u2, a, b), a and b each
    row's (centred) amounts of u1 and u2."""
    rng = np.random.default_rng(seed)
    basis, _ = np.linalg.qr(rng.normal(size=(width, width)))  # orthonormal columns
    u1, u2 = basis[:, 0], basis[:, 1]
    a, b = rng.normal(0, 10, n), rng.normal(0, 3, n)
    a, b = a - a.mean(), b - b.mean()
    b -= (a @ b) / (a @ a) * a  # uncorrelated in the sample too, not only on average
    noise = rng.normal(0, 0.01, (n, width - 2)) @ basis[:, 2:].T  # off the plane
    matrix = 5.0 + a[:, None] * u1 + b[:, None] * u2 + noise - noise.mean(axis=0)
    return matrix, u1, u2, a, b


def test_the_plane_is_the_planted_directions_largest_first():
    matrix, u1, u2, _, _ = planted()
    axes = principal_plane(matrix)
    assert axes.shape == (6, 2)
    np.testing.assert_allclose(axes.T @ axes, np.eye(2), atol=1e-12)  # orthonormal
    assert abs(axes[:, 0] @ u1) == pytest.approx(1.0, abs=1e-6)
    assert abs(axes[:, 1] @ u2) == pytest.approx(1.0, abs=1e-6)


def test_projecting_recovers_each_rows_amounts_from_the_mean():
    matrix, u1, u2, a, b = planted()
    axes = principal_plane(matrix)
    xy = project(matrix, axes)
    signs = np.sign([axes[:, 0] @ u1, axes[:, 1] @ u2])
    np.testing.assert_allclose(xy * signs, np.stack([a, b], axis=1), atol=0.05)
    np.testing.assert_allclose(xy, (matrix - matrix.mean(axis=0)) @ axes, atol=1e-9)


def test_without_previous_axes_the_sign_rule_is_fixed():
    matrix, *_ = planted()
    axes = principal_plane(matrix)
    flipped = principal_plane(-matrix)  # the same plane; the SVD may negate any axis
    np.testing.assert_allclose(flipped, axes, atol=1e-9)
    for k in range(2):
        assert axes[np.abs(axes[:, k]).argmax(), k] > 0


def test_previous_axes_keep_the_map_from_flipping_between_steps():
    matrix, *_ = planted()
    before = principal_plane(matrix)
    nudged = matrix + np.random.default_rng(1).normal(0, 0.05, matrix.shape)  # one step on
    for previous in (before, -before, before * [1, -1], before * [-1, 1]):
        after = principal_plane(nudged, previous)
        assert np.all((after * previous).sum(axis=0) > 0.99)  # each axis turned its way
    with pytest.raises(ValueError, match="another width"):
        principal_plane(matrix, before[:4])


def test_a_matrix_too_small_for_a_plane_is_refused():
    with pytest.raises(ValueError, match="at least 2 rows"):
        principal_plane(np.ones((1, 5)))


def test_the_frame_holds_the_bulk_and_leaves_outliers_out():
    rng = np.random.default_rng(2)
    points = np.concatenate([rng.uniform(-1, 1, (96, 2)), np.full((4, 2), 100.0)])
    frame = framing(points)
    assert frame.shape == (2, 2)
    inside = np.all((points >= frame[:, 0]) & (points <= frame[:, 1]), axis=1)
    assert inside[:96].all() and not inside[96:].any()
    low, high = np.percentile(points[:, 0], [4, 96])
    np.testing.assert_allclose(frame[0], [low - 0.15 * (high - low) - 1e-6,
                                          high + 0.15 * (high - low) + 1e-6])
    same = framing(np.ones((5, 2)))  # every point alike: still a frame of positive width
    assert np.all(same[:, 1] > same[:, 0])
