"""Row-structured pruning: filter pruning of PW/FC layers and channel pruning of DW layers.

Both remove whole rows of the weight viewed as a matrix W[F, K] (an output filter, or one
depthwise channel's kh*kw taps), ranked by the l1 or l2 norm of the row (the DEPrune paper, Sec. 4.2 uses l2).
"""
from __future__ import annotations

import numpy as np

from .rounding import count

NORMS = ("l1", "l2")


def row_norms(matrix: np.ndarray, norm: str) -> np.ndarray:
    if norm == "l1":
        return np.abs(matrix).sum(axis=1)
    if norm == "l2":
        return np.sqrt((np.asarray(matrix, np.float64) ** 2).sum(axis=1))
    raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")


def row_mask(matrix: np.ndarray, ratio: float, norm: str = "l2") -> np.ndarray:
    """Mask [F, K] that zeroes the round(ratio*F) rows of smallest norm (ties by index)."""
    f = matrix.shape[0]
    keep = np.ones(f, bool)
    n = count(ratio, f)
    if n:
        keep[np.argsort(row_norms(matrix, norm), kind="stable")[:n]] = False
    return np.repeat(keep[:, None], matrix.shape[1], axis=1)


def channel_mask(dw_weight: np.ndarray, ratio: float, norm: str = "l2") -> np.ndarray:
    """Channel pruning of a depthwise weight [C, 1, kh, kw]: whole channels by norm."""
    c = dw_weight.shape[0]
    return row_mask(np.asarray(dw_weight).reshape(c, -1), ratio, norm).reshape(dw_weight.shape)
