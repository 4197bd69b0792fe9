"""Noisy linear imputation (Rong et al., "A Consistent and Efficient Evaluation Strategy for Attribution Methods",
ICML 2022, section 4): the removed pixels are filled from their neighbours, so the fill carries no trace of the
removal mask's shape.

Every removed pixel's value is the weighted mean of its eight neighbours (weight 1/6 for the four sharing an edge,
1/12 for the four diagonal ones; neighbours outside the image are left out and the weights of the rest kept), and
removed neighbours are unknowns too: one sparse linear system per image, solved for every channel at once. Then
Gaussian noise of standard deviation ``noise`` is added to the imputed values.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.sparse.linalg import spsolve

NEIGHBOURS = ((-1, 0, 1 / 6), (1, 0, 1 / 6), (0, -1, 1 / 6), (0, 1, 1 / 6),
              (-1, -1, 1 / 12), (-1, 1, 1 / 12), (1, -1, 1 / 12), (1, 1, 1 / 12))
"""(row offset, column offset, weight) of the eight neighbours."""


def impute(image: np.ndarray, removed: np.ndarray, noise: float, noise_field: np.ndarray) -> np.ndarray:
    """The image (C, H, W) with the pixels of ``removed`` (bool H x W) imputed, plus ``noise * noise_field``.

    Args:
        image: the image in the model's normalised input space, float64 (C, H, W).
        removed: the pixels to impute; at least one pixel must stay.
        noise: the noise's standard deviation (Rong et al.: 0.01, in the input's units).
        noise_field: standard normal draws (C, H, W); the imputed pixels take theirs.

    Returns:
        A new (C, H, W) float64 array: for each removed pixel i, ``sum_j w_ij (v_i - v_j) = 0`` over its neighbours j
        inside the image (known neighbours at their value), solved exactly, then noise added.
    """
    h, w = removed.shape
    unknown = np.flatnonzero(removed)
    out = image.astype(np.float64, copy=True)
    if unknown.size == 0:
        return out
    if unknown.size == removed.size:
        raise ValueError("noisy linear imputation needs at least one pixel kept")
    flat = out.reshape(out.shape[0], -1)
    variable = np.full(removed.size, -1, dtype=np.int64)
    variable[unknown] = np.arange(unknown.size)
    rows, cols = np.divmod(unknown, w)
    diagonal = np.zeros(unknown.size)
    right = np.zeros((unknown.size, flat.shape[0]))
    entries_i, entries_j, entries_w = [], [], []
    for dr, dc, weight in NEIGHBOURS:
        r, c = rows + dr, cols + dc
        inside = (r >= 0) & (r < h) & (c >= 0) & (c < w)
        i = np.flatnonzero(inside)
        neighbour = r[inside] * w + c[inside]
        diagonal[i] += weight
        is_unknown = variable[neighbour] >= 0
        entries_i.append(i[is_unknown])
        entries_j.append(variable[neighbour[is_unknown]])
        entries_w.append(np.full(int(is_unknown.sum()), -weight))
        right[i[~is_unknown]] += weight * flat[:, neighbour[~is_unknown]].T
    system = sparse.coo_matrix(
        (np.concatenate([diagonal, *entries_w]),
         (np.concatenate([np.arange(unknown.size), *entries_i]), np.concatenate([np.arange(unknown.size), *entries_j]))),
        shape=(unknown.size, unknown.size)).tocsc()
    solution = spsolve(system, right)
    solution = solution.reshape(unknown.size, -1)
    flat[:, unknown] = solution.T + noise * noise_field.reshape(flat.shape[0], -1)[:, unknown]
    return out
