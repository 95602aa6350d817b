"""Per-target cost model: does a pruned layer run faster sparse or dense?

Costs are relative to one multiply-add of the target's dense kernel for the same layer, so a
sparse layer wins when (stored work x relative cost) < dense work. Measured once per target
family (BENCHMARKS.md) and kept here beside the geometry it describes.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SparseCost:
    """dw_column:   one kept DR column (tap) of the sparse depthwise kernel.
    group_mac:      one stored multiply-add of the group-sparse dense kernel.
    group_fixed:    the fixed cost of one stored group (index load, address), in MACs.
    group_shapes:   (gr, gc) group shapes the kernels are written for; the compile step covers a
                    mask with the cheapest of them.
    row_gather:     per output row, the cost (in MACs per pixel) of scattering the rows a dense
                    kernel computed for the kept filters back to the full output (compact rows).
    """

    dw_column: float = 1.0
    dw_pixel: float = 0.0
    dw_strided: float = 1.0
    group_mac: float = 1.0
    group_fixed: float = 2.0
    group_shapes: tuple[tuple[int, int], ...] = ((1, 1), (1, 4), (1, 8), (4, 1), (4, 4))
    row_gather: float = 2.0

    def depthwise_sparse_wins(self, density: float, taps: int = 0, stride: int = 1) -> bool:
        """Sparse when its work per output pixel and channel, dw_pixel + dw_column x the kept
        taps, is below the dense kernel's, its taps (x dw_strided at stride > 1). Without
        the layer's taps, the density alone decides (as it does when dw_pixel is 0)."""
        if taps <= 0:
            return density * self.dw_column < 1.0
        dense = taps * (self.dw_strided if stride > 1 else 1.0)
        return self.dw_pixel + self.dw_column * density * taps < dense

    def group_sparse_cost(self, stored_groups: int, gr: int, gc: int) -> float:
        """The group-sparse kernel's work; the dense kernel's is rows x cols."""
        return stored_groups * (gr * gc * self.group_mac + self.group_fixed)

    def compact_rows_cost(self, kept_rows: int, rows: int, cols: int) -> float:
        """The dense kernel on the kept rows only, plus the scatter back to all rows."""
        return kept_rows * cols + rows * self.row_gather
