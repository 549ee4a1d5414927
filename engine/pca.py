"""Principal components: the plane in which a matrix's rows spread out the most, for a map.

The embedding map draws every token's row of wte (V rows of C numbers) as a point in 2-D.
Centre the rows on their mean and take the singular value decomposition

    centred = U S Vᵀ      (V, C) = (V, k) (k,) (k, C)

The rows of Vᵀ are orthonormal directions, ordered by how much of the rows' variance lies
along them (S² / V); the first two span the principal plane, and a row's coordinates in it
are its dot products with them. A direction's sign is arbitrary: the SVD of a matrix that
changed a little (one training step) may return it negated, and the map would flip. So each
axis is turned to agree with the previous one when it is given.
"""

from __future__ import annotations

import numpy as np


def principal_plane(matrix: np.ndarray, previous: np.ndarray | None = None) -> np.ndarray:
    """(N, C) rows -> (C, 2) unit directions of largest variance, the largest first.

    With `previous` (C, 2), the axes of an earlier call, each axis is negated if that brings
    it closer to its predecessor, so the map keeps its orientation while the matrix changes.
    Without it, each axis points so that its largest entry is positive (a fixed rule, so that
    the same matrix always gives the same plane).
    """
    matrix = np.asarray(matrix)
    if matrix.ndim != 2 or min(matrix.shape) < 2:
        raise ValueError(f"a principal plane needs at least 2 rows of at least 2 numbers, "
                         f"got shape {matrix.shape}")
    centred = (matrix - matrix.mean(axis=0)).astype(np.float64)  # (N, C)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)  # vt: (k, C)
    axes = vt[:2].T.copy()  # (C, 2)
    if previous is None:
        largest = axes[np.abs(axes).argmax(axis=0), [0, 1]]  # (2,) each axis's largest entry
        return axes * np.where(largest < 0, -1.0, 1.0)
    if np.shape(previous) != axes.shape:
        raise ValueError(f"the previous axes have shape {np.shape(previous)}, "
                         f"these {axes.shape}: they belong to another width")
    return axes * np.where((axes * previous).sum(axis=0) < 0, -1.0, 1.0)


def project(matrix: np.ndarray, axes: np.ndarray) -> np.ndarray:
    """(N, C) rows, (C, k) axes -> (N, k): each row's coordinates along the axes, measured
    from the rows' mean (the centre of the map is the average row)."""
    matrix = np.asarray(matrix, dtype=np.float64)
    return (matrix - matrix.mean(axis=0)) @ axes


def framing(points: np.ndarray, share: float = 0.92, pad: float = 0.15) -> np.ndarray:
    """(N, k) points -> (k, 2) [start, end] along each axis that frames the bulk of them.

    The middle `share` of the points along each axis (from the (1 - share) / 2 percentile to
    its mirror), widened by `pad` of its width on each side: a few outliers (rare tokens
    that barely trained sit far out) do not shrink the rest into a corner.
    """
    points = np.asarray(points, dtype=np.float64)
    if not 0.0 < share <= 1.0:
        raise ValueError(f"share must be in (0, 1], got {share}")
    tail = 100 * (1.0 - share) / 2
    low, high = np.percentile(points, [tail, 100 - tail], axis=0)  # (k,) each
    margin = pad * (high - low) + 1e-6  # a margin even when every point is the same
    return np.stack([low - margin, high + margin], axis=1)
