"""Group-sparse format of a pruned weight matrix W[F, K] (1x1 conv or dense layer).

Rows that are all zero (filter pruning) are dropped first: they are not stored and not
computed, and `row_pos[f]` says where row f went; a dropped row points at a compacted row that
is all zeros (an extra empty row block is added if no padding row is left), so gathering the
outputs back needs no condition, and a dropped row's output is the bias alone.
The remaining rows come in blocks of gr; inside a block, the kept columns are covered left to
right by groups of gc adjacent columns starting anywhere (unaligned, as group-level pruning
keeps them):

    row_pos[f]            compacted row of row f (dropped rows: an all-zero compacted row)
    block_ptr[b]          [start, end) of block b's groups (CSR over row blocks)
    group_col[j]          first column of group j
    group_val[j, r, cc]   W[the compacted row b*gr + r, group_col[j] + cc]

Dropping the empty rows is what lets filter-pruned layers run as dense gr-row blocks.

group_col / group_val hold NG = storage_length(stored) entries: the stored groups, then zero
groups that no block points at. NG is part of a sparse kernel's signature, so of its tuning
workload; rounded up to a power of two it depends on the plan's ratio, not on the exact count,
which the weights shift (a folded constant channel empties a column, an empty row block stores
nothing). The padding is never read.

A mask that group pruning produced is covered exactly; any other mask (n:m, unstructured) is
covered too, with zeros where a group overlaps pruned weights — with (1, 1) groups it is plain
CSR. `choose_shape` picks the group shape of least estimated cost.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class GroupFormat:
    rows: int
    cols: int
    gr: int
    gc: int
    block_ptr: np.ndarray       # int32 [B, 2]
    group_col: np.ndarray       # int32 [NG]
    group_val: np.ndarray       # [NG, gr, gc]
    stored: int                 # real groups; NG >= stored (see storage_length)
    row_pos: np.ndarray         # int32 [F]: compacted row of each row (dropped: an all-zero row)
    kept_rows: int = 0          # rows that are computed

    @property
    def num_blocks(self) -> int:
        return self.block_ptr.shape[0]

    @property
    def density(self) -> float:
        """Computed MACs per output pixel relative to the dense layer."""
        return self.stored * self.gr * self.gc / (self.rows * self.cols)

    @property
    def max_groups_per_block(self) -> int:
        return int((self.block_ptr[:, 1] - self.block_ptr[:, 0]).max(initial=0))

    def to_dense(self) -> np.ndarray:
        compact = np.zeros((self.num_blocks * self.gr, self.cols), self.group_val.dtype)
        for b in range(self.num_blocks):
            s, e = self.block_ptr[b]
            for j in range(s, e):
                c0 = self.group_col[j]
                compact[b * self.gr:(b + 1) * self.gr, c0:c0 + self.gc] += self.group_val[j]
        return compact[self.row_pos]


def cover(matrix: np.ndarray, shape: tuple[int, int], compact: bool = True) -> GroupFormat:
    """Cover every non-zero of `matrix` with gr x gc groups, left to right in each row block.

    A group starts at the first uncovered non-zero (moved left if it would cross the last
    column); where it overlaps the previous group, its values are zero, so no weight counts twice.
    Vectorised over row blocks: each step advances every block to its next uncovered non-zero.
    compact=False keeps every row in place (row_pos is the identity; an empty row is a block
    with no groups): a kernel that writes its rows straight to the output needs no gather.
    """
    matrix = np.asarray(matrix)
    rows, k = matrix.shape
    gr, gc = (int(s) for s in shape)
    if gc > k:
        raise ValueError(f"group width {gc} exceeds the {k} columns")
    kept = np.flatnonzero((matrix != 0).any(axis=1)) if compact else np.arange(rows)
    dropped = len(kept) < rows
    row_pos = np.full(rows, len(kept), np.int32)            # dropped rows: the first zero row
    row_pos[kept] = np.arange(len(kept), dtype=np.int32)
    compact = matrix[kept]
    nb = -(-(len(kept) + int(dropped)) // gr) or 1           # room for one all-zero compacted row
    padded = np.zeros((nb * gr, k), matrix.dtype)
    padded[:len(kept)] = compact
    blocks = padded.reshape(nb, gr, k)
    nb_idx, col_idx = np.nonzero((blocks != 0).any(axis=1))      # sorted by block, then column
    counts = np.bincount(nb_idx, minlength=nb)
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    if gc == 1:
        starts_b, starts_c = nb_idx, col_idx
    else:
        key = nb_idx.astype(np.int64) * (k + gc) + col_idx
        nxt = np.searchsorted(key, key + gc)                       # first non-zero a group skips to
        cur = np.where(counts > 0, first, -1)
        end = first + counts
        out_b, out_c = [], []
        live = np.nonzero(cur >= 0)[0]
        while live.size:
            idx = cur[live]
            out_b.append(nb_idx[idx])
            out_c.append(col_idx[idx])
            cur[live] = nxt[idx]
            live = live[cur[live] < end[live]]
        starts_b = np.concatenate(out_b) if out_b else np.zeros(0, np.int64)
        starts_c = np.concatenate(out_c) if out_c else np.zeros(0, np.int64)
        order = np.lexsort((starts_c, starts_b))
        starts_b, starts_c = starts_b[order], starts_c[order]
    raw = starts_c.copy()
    starts_c = np.minimum(starts_c, k - gc)
    cols = starts_c[:, None] + np.arange(gc)[None, :]
    vals = blocks[starts_b[:, None, None], np.arange(gr)[None, :, None], cols[:, None, :]]
    # a group moved left overlaps its predecessor in the same block: zero the shared columns
    moved = np.nonzero(raw != starts_c)[0]
    for j in moved:
        if j > 0 and starts_b[j - 1] == starts_b[j]:
            overlap = starts_c[j - 1] + gc - starts_c[j]
            if overlap > 0:
                vals[j, :, :overlap] = 0
    per_block = np.bincount(starts_b, minlength=nb)
    ptr = np.zeros((nb, 2), np.int32)
    ptr[:, 1] = np.cumsum(per_block)
    ptr[:, 0] = ptr[:, 1] - per_block
    stored = len(starts_c)
    length = storage_length(stored)
    starts_c = np.concatenate([starts_c, np.zeros(length - stored, starts_c.dtype)])
    vals = np.concatenate([vals.astype(matrix.dtype), np.zeros((length - stored, gr, gc), matrix.dtype)])
    return GroupFormat(rows, k, gr, gc, ptr, starts_c.astype(np.int32), vals, stored, row_pos, len(kept))


def storage_length(stored: int) -> int:
    """NG for `stored` groups: the next power of two (at least 1, so no array is empty)."""
    return 1 << max(0, int(stored) - 1).bit_length()


def cost(fmt: GroupFormat, group_overhead: float) -> float:
    """Estimated cost per output pixel: MACs plus a fixed cost per group (index load, address)."""
    return fmt.stored * (fmt.gr * fmt.gc + group_overhead) + fmt.num_blocks * group_overhead


def choose_shape(matrix: np.ndarray, candidates, group_overhead: float, compact: bool = True) -> GroupFormat:
    """The cover of least cost among candidate (gr, gc) shapes that fit the matrix."""
    f, k = np.shape(matrix)
    best = None
    for shape in candidates:
        if shape[0] > f or shape[1] > k:
            continue
        fmt = cover(matrix, shape, compact)
        if best is None or cost(fmt, group_overhead) < cost(best, group_overhead):
            best = fmt
    if best is None:
        best = cover(matrix, (1, 1), compact)
    return best
