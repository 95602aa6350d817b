"""DR block-sparse format of a pruned depthwise weight W[C, 1, kh, kw].

Each DR sub-GEMM (``group`` channels; DEPrune, NeurIPS 2024) stores only its kept columns — a column is
one (channel, tap) with its weight — sorted by channel then tap, so a sub-GEMM's K shrinks with
pruning. Sub-GEMMs are padded with zero columns to the same K, rounded up to the K tile:

    col_tap[g, k]   tap index t = ky * kw + kx of column k of sub-GEMM g
    col_chan[g, k]  its channel (padding: the sub-GEMM's last channel)
    col_val[g, k]   its weight (padding: 0)
    chan_ptr[c]     [start, end) of channel c's columns in the flattened [G * kmax] arrays

A GPU kernel walks a sub-GEMM's kmax columns tile by tile (with BWT every sub-GEMM has the same
K, with HSR it is a whole number of tiles, so the padding is empty); the CPU kernel walks each
channel's own columns through chan_ptr and never touches the padding.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DRFormat:
    channels: int
    kh: int
    kw: int
    group: int
    k_tile: int
    kmax: int
    col_tap: np.ndarray
    col_chan: np.ndarray
    col_val: np.ndarray
    chan_ptr: np.ndarray
    kept: np.ndarray            # real columns per sub-GEMM

    @property
    def num_subgemms(self) -> int:
        return self.col_val.shape[0]

    @property
    def nnz(self) -> int:
        return int(self.kept.sum())

    @property
    def density(self) -> float:
        return self.nnz / (self.channels * self.kh * self.kw)

    def to_dense(self) -> np.ndarray:
        """The weight back as [C, 1, kh, kw] (zeros where pruned)."""
        w = np.zeros((self.channels, self.kh * self.kw), self.col_val.dtype)
        taps, vals = self.col_tap.reshape(-1), self.col_val.reshape(-1)
        for c in range(self.channels):
            s, e = self.chan_ptr[c]
            w[c, taps[s:e]] = vals[s:e]
        return w.reshape(self.channels, 1, self.kh, self.kw)


def from_weight(weight: np.ndarray, group: int, k_tile: int = 1, keep_all: bool = False) -> DRFormat:
    """Compress a depthwise weight; zeros are the pruned weights. keep_all: every tap is a
    column, zeros too (a dense layer in the same form, for the CPU kernel)."""
    weight = np.asarray(weight)
    if weight.ndim != 4 or weight.shape[1] != 1:
        raise ValueError(f"a depthwise weight is [C, 1, kh, kw], got {weight.shape}")
    c, _, kh, kw = weight.shape
    taps = kh * kw
    flat = weight.reshape(c, taps)
    keep = np.ones(flat.shape, bool) if keep_all else flat != 0
    g_count = -(-c // group)
    per_sub = []
    for g in range(g_count):
        chans = range(g * group, min((g + 1) * group, c))
        cols = [(ch, t) for ch in chans for t in range(taps) if keep[ch, t]]
        per_sub.append(cols)
    kept = np.array([len(cols) for cols in per_sub], np.int32)
    kmax = max(1, int(kept.max()) if len(kept) else 1)
    kmax = -(-kmax // k_tile) * k_tile
    col_tap = np.zeros((g_count, kmax), np.int32)
    col_chan = np.zeros((g_count, kmax), np.int32)
    col_val = np.zeros((g_count, kmax), weight.dtype)
    chan_ptr = np.zeros((c, 2), np.int32)
    for g, cols in enumerate(per_sub):
        last = min((g + 1) * group, c) - 1
        col_chan[g, :] = last
        base = g * kmax
        for k, (ch, t) in enumerate(cols):
            col_tap[g, k], col_chan[g, k], col_val[g, k] = t, ch, flat[ch, t]
        start = base
        for ch in range(g * group, last + 1):
            n = int(np.count_nonzero(keep[ch]))
            chan_ptr[ch] = (start, start + n)
            start += n
    return DRFormat(c, kh, kw, group, k_tile, kmax, col_tap, col_chan, col_val, chan_ptr, kept)
