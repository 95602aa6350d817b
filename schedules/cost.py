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
                    kernel computed for the kept filters back to the full output (compact rows);
                    per kept input channel, of gathering it for that kernel (compact columns).
    dw_planes_from: a dense depthwise conv runs the sparse kernel's CPU form with every tap
                    (one kernel for dense and pruned layers) from this many output pixels per
                    channel at stride 1, at any size when strided; 0: never (GPU families).
    fuse_widths:    a depthwise conv in the CPU form and the group-sparse 1x1 conv reading its
                    output run as one kernel (kernels/dw_pointwise.py) where the output width is
                    in this range (both ends included); (0, 0): never (GPU families).
    """

    dw_column: float = 1.0
    group_mac: float = 1.0
    group_fixed: float = 2.0
    group_shapes: tuple[tuple[int, int], ...] = ((1, 1), (1, 4), (1, 8), (4, 1), (4, 4))
    row_gather: float = 2.0
    dw_planes_from: int = 0
    dw_sparse_from: int = 0
    fuse_widths: tuple[int, int] = (0, 0)

    def depthwise_sparse_wins(self, density: float, stride: int = 1, out_pixels: int = 0, taps: int = 9) -> bool:
        """A pruned depthwise conv: the DR kernel over the dense one."""
        small = stride == 1 and taps <= 9 and out_pixels < self.dw_sparse_from
        return density * self.dw_column < 1.0 and not small

    def depthwise_pointwise_fuse(self, out_width: int) -> bool:
        """A depthwise conv (CPU form) and the group-sparse 1x1 conv after it: one kernel."""
        lo, hi = self.fuse_widths
        return lo > 0 and lo <= out_width <= hi

    def depthwise_planes_win(self, stride: int, out_pixels: int, taps: int) -> bool:
        """A dense depthwise conv: the CPU plane kernel with every tap over the dense schedule."""
        return self.dw_planes_from > 0 and (stride > 1 or taps > 9 or out_pixels >= self.dw_planes_from)

    def group_sparse_cost(self, stored_groups: int, gr: int, gc: int) -> float:
        """The group-sparse kernel's work; the dense kernel's is rows x cols."""
        return stored_groups * (gr * gc * self.group_mac + self.group_fixed)

    def compact_cost(self, kept_rows: int, kept_cols: int, rows: int, cols: int) -> float:
        """The dense kernel on the kept rows and columns only, plus the scatter back to all rows
        (where rows were dropped) and the gather of the kept input channels (where columns were)."""
        return (kept_rows * kept_cols + (rows * self.row_gather if kept_rows < rows else 0.0)
                + (kept_cols * self.row_gather if kept_cols < cols else 0.0))
