"""Diagonal-wise Refactorization (DR) of a depthwise weight (DEPrune, NeurIPS 2024; Qin et al. 2018).

A depthwise conv with weight W[C, 1, kh, kw] is G = ceil(C / group) sub-GEMMs. Sub-GEMM g owns
channels [g*group, min((g+1)*group, C)); its weight is `cg x (cg*kh*kw)` with column (c, t)
holding exactly one non-zero, W[c, 0, t], in row c. Pruning a weight empties its column, so the
sub-GEMM's K shrinks by one. The last sub-GEMM is partial when C is not a multiple of `group`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DRLayout:
    channels: int
    taps: int
    group: int

    @property
    def num_subgemms(self) -> int:
        return -(-self.channels // self.group)

    def channel_range(self, g: int) -> range:
        return range(g * self.group, min((g + 1) * self.group, self.channels))

    def columns(self, g: int) -> int:
        """K of sub-GEMM g before pruning: its channels times the taps."""
        return len(self.channel_range(g)) * self.taps

    def is_full(self, g: int) -> bool:
        return len(self.channel_range(g)) == self.group

    def column_slices(self) -> list[slice]:
        """Slices of the flattened [C*taps] weight, one per sub-GEMM, in DR column order (c, t)."""
        return [slice(r.start * self.taps, r.stop * self.taps)
                for r in (self.channel_range(g) for g in range(self.num_subgemms))]


def layout(weight_shape, group: int) -> DRLayout:
    """The DR layout of a depthwise weight of shape [C, 1, kh, kw] for sub-GEMMs of `group` channels."""
    if len(weight_shape) != 4 or weight_shape[1] != 1:
        raise ValueError(f"a depthwise weight is [C, 1, kh, kw], got {tuple(weight_shape)}")
    if group < 1:
        raise ValueError("DR group must be >= 1")
    c, _, kh, kw = (int(d) for d in weight_shape)
    return DRLayout(channels=c, taps=kh * kw, group=int(group))


def kept_per_subgemm(mask: np.ndarray, group: int) -> np.ndarray:
    """Kept columns (non-pruned weights) of every sub-GEMM."""
    lay = layout(mask.shape, group)
    flat = np.asarray(mask, bool).reshape(-1)
    return np.array([int(flat[s].sum()) for s in lay.column_slices()], dtype=np.int64)


def subgemm_ratios(mask: np.ndarray, group: int) -> np.ndarray:
    """Pruning ratio of every sub-GEMM (pruned columns / columns)."""
    lay = layout(mask.shape, group)
    kept = kept_per_subgemm(mask, group)
    cols = np.array([lay.columns(g) for g in range(lay.num_subgemms)])
    return 1.0 - kept / cols


def subgemm_matrix(weight: np.ndarray, group: int, g: int) -> np.ndarray:
    """The dense `cg x (cg*taps)` weight of sub-GEMM g, zeros off the diagonal blocks.

    Multiplied with the im2col of its channels (rows ordered (c, t)) it gives the depthwise
    conv of those channels; tests use it as the oracle of the DR kernels.
    """
    lay = layout(weight.shape, group)
    chans = lay.channel_range(g)
    cg, taps = len(chans), lay.taps
    w = np.asarray(weight).reshape(lay.channels, taps)
    out = np.zeros((cg, cg * taps), dtype=w.dtype)
    for i, c in enumerate(chans):
        out[i, i * taps:(i + 1) * taps] = w[c]
    return out
