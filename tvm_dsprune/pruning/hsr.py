"""HSR — hardware-aware sparsity recalibration (DEPrune-BH, NeurIPS 2024).

After BWT every full sub-GEMM of a layer keeps the same number of columns. The kernels walk those
columns in K tiles, so a partly filled last tile costs as much as a full one. For every layer
whose kept count is not a multiple of the tile:

    eps   = kept columns in the partly filled tile
    alpha = speedup of the layer from removing that tile (a measured table, or the cost model)
    beta  = alpha / eps, the gain per column given up

Layers are ranked by beta; the top half is pruned further down to the tile boundary
("o", over-aligned), the bottom half gets back its largest pruned weights up to the next
boundary ("u", under-aligned), so the model's total ratio stays near the target.

(our reading) alpha's default is a cost model from the tile geometry: a sub-GEMM with t tiles
costs t + overhead tile-times, so alpha = (t + overhead) / (t - 1 + overhead) - 1.
(our reading) A layer with fewer kept columns than one tile cannot be over-aligned (it would
lose every weight); it is under-aligned and the over-aligned half is filled from the others.
(our reading) A partial last sub-GEMM (C not a multiple of the group) follows its layer's
direction where it can: over-aligned only if a full tile stays, under-aligned up to its size.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import dr


@dataclass
class HSRLayer:
    name: str
    weight: np.ndarray
    mask: np.ndarray


@dataclass
class HSRDecision:
    pattern: str            # "o" over-aligned, "u" under-aligned, "a" already aligned
    eps: int
    alpha: float | None
    beta: float | None
    kept_before: int        # kept columns of the densest sub-GEMM before / after
    kept_after: int


def cost_model_alpha(kept: int, tile: int, overhead: float) -> float:
    """Relative speedup from removing the partly filled tile of a sub-GEMM with `kept` columns."""
    tiles = math.ceil(kept / tile)
    if tiles <= 1:
        return math.inf
    return (tiles + overhead) / (tiles - 1 + overhead) - 1.0


def set_kept(abs_w: np.ndarray, mask: np.ndarray, new_kept: int) -> None:
    """Change a 1-D mask in place to keep `new_kept` entries: drop the smallest kept weights or
    restore the largest pruned ones (ties by index)."""
    kept = int(mask.sum())
    if new_kept < kept:
        idx = np.nonzero(mask)[0]
        order = idx[np.argsort(abs_w[idx], kind="stable")]
        mask[order[:kept - new_kept]] = False
    elif new_kept > kept:
        idx = np.nonzero(~mask)[0]
        order = idx[np.argsort(-abs_w[idx], kind="stable")]
        mask[order[:new_kept - kept]] = True


def recalibrate(layers: list[HSRLayer], group: int, tile: int, overhead: float = 1.0,
                alpha_table: dict[str, float] | None = None) -> tuple[list[np.ndarray], list[HSRDecision], str]:
    """Apply HSR to BWT masks; returns the new masks, one decision per layer and the pattern ("9u8o")."""
    alpha_table = alpha_table or {}
    infos = []
    for L in layers:
        lay = dr.layout(L.weight.shape, group)
        kept = dr.kept_per_subgemm(L.mask, group)
        full = [g for g in range(lay.num_subgemms) if lay.is_full(g)] or [lay.num_subgemms - 1]
        rep = int(max(kept[g] for g in full))
        eps = rep % tile
        alpha = beta = None
        if eps:
            alpha = float(alpha_table[L.name]) if L.name in alpha_table else \
                cost_model_alpha(rep, tile, overhead)
            beta = alpha / eps
        infos.append((lay, rep, eps, alpha, beta))

    unaligned = [i for i, info in enumerate(infos) if info[2]]
    can_over = [i for i in unaligned if infos[i][1] >= tile]
    n_over = min(len(unaligned) // 2, len(can_over))
    ranked = sorted(can_over, key=lambda i: (-infos[i][4], i))
    over = set(ranked[:n_over])

    masks, decisions = [], []
    for i, L in enumerate(layers):
        lay, rep, eps, alpha, beta = infos[i]
        mask = np.asarray(L.mask, bool).reshape(-1).copy()
        if not eps:
            masks.append(mask.reshape(L.mask.shape))
            decisions.append(HSRDecision("a", 0, None, None, rep, rep))
            continue
        direction = "o" if i in over else "u"
        abs_w = np.abs(np.asarray(L.weight)).reshape(-1)
        for g, sl in enumerate(lay.column_slices()):
            k = int(mask[sl].sum())
            if direction == "o":
                target = (k // tile) * tile
                if target == 0:
                    continue
            else:
                target = min(-(-k // tile) * tile, lay.columns(g))
            sub = mask[sl]
            set_kept(abs_w[sl], sub, target)
            mask[sl] = sub
        new = mask.reshape(L.mask.shape)
        after = int(dr.kept_per_subgemm(new, group).max())
        masks.append(new)
        decisions.append(HSRDecision(direction, eps, alpha, beta, rep, after))
    n_o = sum(d.pattern == "o" for d in decisions)
    n_u = sum(d.pattern == "u" for d in decisions)
    return masks, decisions, f"{n_u}u{n_o}o"
