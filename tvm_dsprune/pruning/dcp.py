"""DCP and BWT: fine-grained pruning of depthwise weights in DR form (DEPrune, NeurIPS 2024).

DCP ranks a layer's C*kh*kw weights by magnitude with one threshold per layer. Sub-GEMMs then end
up with different ratios, and the layer runs as slow as its densest one ("Real DW").
BWT (DEPrune-B) ranks inside each sub-GEMM instead, so every full sub-GEMM keeps the same number
of columns. Ties are broken by index (stable sort), so results are deterministic.
"""
from __future__ import annotations

import numpy as np

from . import dr
from .rounding import count


def prune_smallest(values: np.ndarray, n_prune: int) -> np.ndarray:
    """Mask (True = kept) that removes the n_prune smallest |values|, ties by lower index first."""
    flat = np.abs(np.asarray(values)).reshape(-1)
    mask = np.ones(flat.shape, bool)
    if n_prune > 0:
        mask[np.argsort(flat, kind="stable")[:n_prune]] = False
    return mask.reshape(np.shape(values))


def dcp_mask(weight: np.ndarray, ratio: float) -> np.ndarray:
    """DCP: per-layer magnitude threshold at `ratio` (also plain unstructured magnitude pruning)."""
    return prune_smallest(weight, count(ratio, np.size(weight)))


def bwt_mask(weight: np.ndarray, ratio: float, group: int) -> np.ndarray:
    """DCP-B: the same ratio inside every sub-GEMM of `group` channels."""
    lay = dr.layout(weight.shape, group)
    flat = np.abs(np.asarray(weight)).reshape(-1)
    mask = np.ones(flat.shape, bool)
    for sl in lay.column_slices():
        cols = flat[sl]
        mask[sl] = prune_smallest(cols, count(ratio, cols.size))
    return mask.reshape(weight.shape)
