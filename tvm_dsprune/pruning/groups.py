"""Unaligned group-level pruning (Lee et al., CASES 2019 / DATE 2020).

W[F, K] keeps m = round(F*K*(1-S) / (gr*gc)) groups. A group is gr x gc: rows come in aligned
blocks of gr (a 1 x g group is gr = 1), columns are gc adjacent weights inside the block at any
start (a group never crosses a row block: that would touch two sets of output registers).
Groups may not overlap. The kept groups maximise the kept sum of |w|:

- aligned:  starts at multiples of gc (the usual baseline);
- greedy:   repeatedly the largest window that overlaps none taken (over all blocks);
- optimal:  the exact optimum. The paper's DP is O(n*m); instead, the best value of one block
            with k groups is concave in k, so a Lagrangian penalty per group, found by bisection
            over a linear-time DP run on all blocks at once, reaches the exact optimum. Where
            ties leave the count between two penalties, the blocks in between are settled with
            an exact fixed-count DP.
- balanced (DATE 2020): every row block keeps the same number of groups (load balance), each
            block solved exactly (optimal), greedily or aligned.
"""
from __future__ import annotations

import math

import numpy as np

SELECTIONS = ("aligned", "greedy", "optimal")


def groups_to_keep(rows: int, cols: int, ratio: float, shape: tuple[int, int]) -> int:
    gr, gc = shape
    return math.floor(rows * cols * (1.0 - ratio) / (gr * gc) + 0.5)


def window_values(abs_matrix: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """v[b, s] = sum of |w| over rows of block b and columns s .. s+gc-1."""
    gr, gc = shape
    f, k = abs_matrix.shape
    nb = -(-f // gr)
    padded = np.zeros((nb * gr, k))
    padded[:f] = abs_matrix
    block = padded.reshape(nb, gr, k).sum(axis=1)
    csum = np.concatenate([np.zeros((nb, 1)), np.cumsum(block, axis=1)], axis=1)
    return csum[:, gc:] - csum[:, :-gc]


def group_mask(matrix: np.ndarray, ratio: float, shape: tuple[int, int] = (1, 4),
               selection: str = "optimal", balanced: bool = False) -> np.ndarray:
    """Mask [F, K] (True = kept) of the chosen groups."""
    gr, gc = (int(s) for s in shape)
    f, k = matrix.shape
    if selection not in SELECTIONS:
        raise ValueError(f"group selection must be one of {SELECTIONS}, got {selection!r}")
    if gr > f or gc > k:
        raise ValueError(f"group {gr}x{gc} does not fit a {f}x{k} weight matrix")
    if ratio <= 0.0:
        return np.ones((f, k), bool)
    v = window_values(np.abs(np.asarray(matrix, np.float64)), (gr, gc))
    nb = v.shape[0]
    capacity = k // gc
    m = min(groups_to_keep(f, k, ratio, (gr, gc)), nb * capacity)
    per_block = min(capacity, math.floor(m / nb + 0.5)) if balanced else None
    if selection == "aligned":
        blocks, starts = select_aligned(v, gc, m, per_block)
    elif selection == "greedy":
        blocks, starts = select_greedy(v, gc, m, per_block)
    elif balanced:
        blocks, starts = select_exact_k(v, gc, per_block)
    else:
        blocks, starts = select_optimal(v, gc, m)
    return starts_to_mask(blocks, starts, (f, k), (gr, gc))


def starts_to_mask(blocks, starts, matrix_shape, shape) -> np.ndarray:
    gr, gc = shape
    f, k = matrix_shape
    nb = -(-f // gr)
    bm = np.zeros((nb, k), bool)
    for off in range(gc):
        bm[blocks, starts + off] = True
    return np.repeat(bm, gr, axis=0)[:f]


# -- aligned and greedy ---------------------------------------------------------------------

def select_aligned(v: np.ndarray, g: int, m: int, per_block: int | None = None):
    nb, s = v.shape
    cand = np.arange(0, s, g)
    vals = v[:, cand]
    if per_block is not None:
        order = np.argsort(-vals, axis=1, kind="stable")[:, :per_block]
        blocks = np.repeat(np.arange(nb), order.shape[1])
        return blocks, cand[order.reshape(-1)]
    top = np.argsort(-vals.reshape(-1), kind="stable")[:m]
    b, c = np.divmod(top, len(cand))
    return b, cand[c]


def select_greedy(v: np.ndarray, g: int, m: int, per_block: int | None = None):
    nb, s = v.shape
    k = s + g - 1
    limit = nb * per_block if per_block is not None else m
    occupied = bytearray(nb * k)
    used = [0] * nb
    one = b"\x01" * g
    blocks: list[int] = []
    starts: list[int] = []
    for idx in np.argsort(-v.reshape(-1), kind="stable").tolist():
        if len(blocks) >= limit:
            break
        b, st = divmod(idx, s)
        if per_block is not None and used[b] >= per_block:
            continue
        base = b * k + st
        if occupied.find(1, base, base + g) != -1:
            continue
        occupied[base:base + g] = one
        used[b] += 1
        blocks.append(b)
        starts.append(st)
    return np.array(blocks, np.int64), np.array(starts, np.int64)


# -- optimal ---------------------------------------------------------------------------------

def _penalized(vt: np.ndarray, g: int, lam: float):
    """Per block, the best sum of (window - lam) over non-overlapping windows.

    vt is [S, R] (windows x blocks). Returns the group count of every block and the take-bits
    for backtracking. Ties take the window (more groups).
    """
    s, r = vt.shape
    k = s + g - 1
    best = np.zeros((k + 1, r))
    cnt = np.zeros((k + 1, r), np.int64)
    take = np.zeros((k + 1, r), bool)
    gain = vt - lam
    for j in range(g, k + 1):
        cand = best[j - g] + gain[j - g]
        t = cand >= best[j - 1]
        take[j] = t
        best[j] = np.where(t, cand, best[j - 1])
        cnt[j] = np.where(t, cnt[j - g] + 1, cnt[j - 1])
    return cnt[k], take


def _backtrack(take: np.ndarray, g: int, rows: np.ndarray | None = None):
    k = take.shape[0] - 1
    r = take.shape[1]
    rows = np.arange(r) if rows is None else rows
    pos = np.full(len(rows), k)
    out_b, out_s = [], []
    while True:
        live = np.nonzero(pos >= g)[0]
        if live.size == 0:
            break
        t = take[pos[live], rows[live]]
        hit = live[t]
        out_b.append(rows[hit])
        out_s.append(pos[hit] - g)
        pos[hit] -= g
        pos[live[~t]] -= 1
    if not out_b:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(out_b).astype(np.int64), np.concatenate(out_s).astype(np.int64)


def select_exact_k(v: np.ndarray, g: int, k_groups: int):
    """Every block keeps exactly min(k_groups, capacity) groups with the largest sum: a DP over
    (position, count), vectorised over blocks; O(K * k) per block."""
    nb, s = v.shape
    k = s + g - 1
    kk = min(int(k_groups), k // g)
    if kk <= 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    vt = np.ascontiguousarray(v.T)
    ring = [np.full((nb, kk + 1), -np.inf) for _ in range(g + 1)]
    for buf in ring:
        buf[:, 0] = 0.0
    take = np.zeros((k + 1, nb, kk + 1), bool)
    for j in range(g, k + 1):
        prev = ring[(j - 1) % (g + 1)]
        back = ring[(j - g) % (g + 1)]
        cand = np.full((nb, kk + 1), -np.inf)
        cand[:, 1:] = back[:, :-1] + vt[j - g][:, None]
        t = cand > prev
        take[j] = t
        ring[j % (g + 1)] = np.where(t, cand, prev)
    pos = np.full(nb, k)
    cnt = np.full(nb, kk)
    out_b, out_s = [], []
    rows = np.arange(nb)
    while True:
        live = np.nonzero((pos >= g) & (cnt > 0))[0]
        if live.size == 0:
            break
        t = take[pos[live], rows[live], cnt[live]]
        hit = live[t]
        out_b.append(hit)
        out_s.append(pos[hit] - g)
        pos[hit] -= g
        cnt[hit] -= 1
        pos[live[~t]] -= 1
    return np.concatenate(out_b).astype(np.int64), np.concatenate(out_s).astype(np.int64)


def select_optimal(v: np.ndarray, g: int, m: int, max_iter: int = 200):
    """The m non-overlapping windows of largest total value (exact; see module docstring)."""
    nb, s = v.shape
    if m <= 0 or nb == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    vt = np.ascontiguousarray(v.T)
    vmax = float(v.max())
    lo = -((s + g - 1) // g * vmax + 1.0)           # reward per group beats any value: max count
    hi = vmax + 1.0                                  # penalty beats any window: no group
    c_lo, t_lo = _penalized(vt, g, lo)
    if c_lo.sum() <= m:
        return _backtrack(t_lo, g)
    c_hi, t_hi = _penalized(vt, g, hi)
    tol = 1e-13 * (vmax + 1.0)
    for _ in range(max_iter):
        mid = 0.5 * (lo + hi)
        if not (lo < mid < hi) or hi - lo <= tol:
            break
        c, t = _penalized(vt, g, mid)
        total = int(c.sum())
        if total == m:
            return _backtrack(t, g)
        if total > m:
            lo, c_lo, t_lo = mid, c, t
        else:
            hi, c_hi, t_hi = mid, c, t
    # Blocks whose count differs between the two penalties are interchangeable at the optimal
    # penalty: take the larger count in as many as fit and settle one block with an exact DP.
    need = m - int(c_hi.sum())
    use_lo = np.zeros(nb, bool)
    partial = None
    for b in np.nonzero(c_lo > c_hi)[0]:
        if need <= 0:
            break
        diff = int(c_lo[b] - c_hi[b])
        if diff <= need:
            use_lo[b] = True
            need -= diff
        else:
            partial = (int(b), int(c_hi[b]) + need)
            need = 0
    keep_hi = ~use_lo
    if partial is not None:
        keep_hi[partial[0]] = False
    b_lo, s_lo = _backtrack(t_lo, g, np.nonzero(use_lo)[0])
    b_hi, s_hi = _backtrack(t_hi, g, np.nonzero(keep_hi)[0])
    parts_b, parts_s = [b_lo, b_hi], [s_lo, s_hi]
    if partial is not None:
        b, kk = partial
        _, st = select_exact_k(v[b:b + 1], g, kk)
        parts_b.append(np.full(len(st), b, np.int64))
        parts_s.append(st)
    return np.concatenate(parts_b), np.concatenate(parts_s)
