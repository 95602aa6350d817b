"""The tile geometry a target's sparse kernels are written for.

This is the one place the mask step and the kernels agree on. The mask step reads it to choose
pruning units that the kernels can skip; the schedules read it to tile the kernels. Pure Python:
importing it never imports TVM.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class TileGeometry:
    """Tile sizes of one target's sparse kernels.

    dr_group:        channels per DR sub-GEMM of a depthwise conv (DEPrune: 32 on CUDA).
    k_tile:          the sub-GEMM kernel walks its compact K in tiles of this many columns;
                     HSR aligns each sub-GEMM's kept columns to it.
    group:           (rows, cols) of the default group for group-level pruning of 1x1 convs and
                     dense layers (Mali: 1x4 = one float4).
    thread_rows:     rows of W one work-item multiplies with the same input row
                     (tile-aware thread-level unit).
    workgroup_rows:  rows of W one work-group (or warp) owns (tile-aware work-group-level unit).
    vector_width:    float lanes of one vector load/store.
    tile_overhead:   fixed cost of a sub-GEMM in units of one K tile (loads of the output tile,
                     epilogue); HSR's default cost model uses it to estimate alpha.
    pixel_tile:      the sparse kernels' intermediate outputs are padded to a multiple of this
                     many pixels along a row (CPU: vector lanes), so every vector is whole.
    """

    dr_group: int
    k_tile: int
    group: tuple[int, int]
    thread_rows: int
    workgroup_rows: int
    vector_width: int
    tile_overhead: float = 1.0
    pixel_tile: int = 1

    def __post_init__(self) -> None:
        for field in ("dr_group", "k_tile", "thread_rows", "workgroup_rows", "vector_width", "pixel_tile"):
            if int(getattr(self, field)) < 1:
                raise ValueError(f"TileGeometry.{field} must be >= 1")
        if len(self.group) != 2 or min(self.group) < 1:
            raise ValueError("TileGeometry.group must be (rows, cols) >= 1")

    def as_dict(self) -> dict:
        out = asdict(self)
        out["group"] = list(self.group)
        return out
