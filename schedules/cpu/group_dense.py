"""The group-sparse kernel's CPU form (kernels/group_dense.py: build_cpu) on a CPU.

A block instance is a row block on a pixel tile, its sums in registers (the kernel's local
buffer); its output rows, with the fused epilogue, are written right after it, from cache.
Tasks are runs of pixel tiles, each walking every row block (the tiles' input rows stay in
cache while all the rows use them); where there are fewer tiles than a few per thread (late,
small images, a dense layer's one pixel), a task is a run of row blocks of one tile: a task per
row block measured 2-3x slower on 14x14 expansions (64->384, 7 tiles: 110 us against 35-55).

Design space (tunable): pixel tiles per task."""
from __future__ import annotations

from ..common import block_named, choose, inline_consumers, loop_extent
from ..rule import Rule
from .registers import cores, vector_lanes
from .tiling import schedule_leftovers, vectorize_innermost


class GroupDense(Rule):
    name = "cpu.group_dense"
    blocks = ("group_dense",)

    def schedule(self, sch, main, target, tunable):
        if block_named(sch, "group_dense_gather") is not None:
            return None                                   # the GPU form (compacted rows, gather)
        out = sch.get_sblock("group_dense_out")
        inline_consumers(sch, out)
        n, t, b = sch.get_loops(main)
        threads = cores(target)
        tiles = loop_extent(sch, n) * loop_extent(sch, t)
        if tiles >= 4 * threads:
            per_task = choose(sch, tunable, [d for d in (1, 2, 4) if loop_extent(sch, t) % d == 0], 1)
            t_task, t_in = sch.split(t, [None, per_task])
            task = sch.fuse(n, t_task)
            sch.parallel(task)
            at = b
        else:
            # few tiles: each task walks a run of the row blocks of one tile
            runs = min(loop_extent(sch, b), -(-4 * threads // tiles))
            b_run, b_in = sch.split(b, [runs, None])
            task = sch.fuse(n, t, b_run)
            sch.parallel(task)
            at = b_in
        sch.reverse_compute_at(out, at)
        vectorize_innermost(sch, out, vector_lanes(target), below=at)
        schedule_leftovers(sch, vector_lanes(target))
        return sch
