"""Tile-aware fine-grain pruning (Choi & Yang, Euro-Par 2021).

(our reading of the abstract, the only part that could be read) For a tiled GEMM
Y[F, P] = W[F, K] X[K, P] where a work-item owns `thread_rows` rows and a work-group owns
`workgroup_rows` rows, the finest unit a kernel can skip is

- thread level:     W[r0 : r0 + thread_rows, k]    -> that work-item skips input row k;
- work-group level: W[R0 : R0 + workgroup_rows, k] -> the whole group skips k, uniformly.

Units (rows aligned to the tile, one column) are ranked by l2 norm and removed until the
pruned fraction is as close as possible to the target.
"""
from __future__ import annotations

import numpy as np

from .rounding import count


def tile_unit_mask(matrix: np.ndarray, ratio: float, rows: int) -> np.ndarray:
    """Mask [F, K] removing (rows x 1) units, rows aligned to multiples of `rows`."""
    if rows < 1:
        raise ValueError("tile rows must be >= 1")
    f, k = matrix.shape
    nb = -(-f // rows)
    sq = np.zeros((nb * rows, k))
    sq[:f] = np.asarray(matrix, np.float64) ** 2
    norms = np.sqrt(sq.reshape(nb, rows, k).sum(axis=1)).reshape(-1)       # unit (b, k)
    sizes = np.full((nb, k), rows)
    sizes[-1, :] = f - (nb - 1) * rows
    sizes = sizes.reshape(-1)
    order = np.argsort(norms, kind="stable")
    removed = np.concatenate([[0], np.cumsum(sizes[order])])
    n_units = int(np.argmin(np.abs(removed - count(ratio, f * k))))
    keep = np.ones(nb * k, bool)
    keep[order[:n_units]] = False
    return np.repeat(keep.reshape(nb, k), rows, axis=0)[:f]
