"""The group-sparse kernel's CPU form (kernels/group_dense.py: build_cpu) on a CPU.

A block instance is a row block on a pixel tile, its sums in registers (the kernel's local
buffer); its output rows, with the fused epilogue, are written right after it, from cache.
Tasks are runs of pixel tiles, each walking every row block (the tiles' input rows stay in
cache while all the rows use them); where there are fewer tiles than a few per thread (late,
small images), row blocks are tasks too. A dense layer (one pixel) makes row blocks the tasks.

Design space (tunable): pixel tiles per task."""
from __future__ import annotations

from ..common import block_named, choose, inline_consumers, loop_extent
from ..rule import Rule
from .registers import vector_lanes
from .tiling import schedule_leftovers


class GroupDense(Rule):
    name = "cpu.group_dense"
    blocks = ("group_dense",)

    def schedule(self, sch, main, target, tunable):
        if block_named(sch, "group_dense_gather") is not None:
            return None                                   # the GPU form (compacted rows, gather)
        out = sch.get_sblock("group_dense_out")
        inline_consumers(sch, out)
        n, t, b = sch.get_loops(main)
        threads = int(target.attrs.get("num-cores", 1))
        tiles = loop_extent(sch, n) * loop_extent(sch, t)
        if tiles >= 4 * threads:
            per_task = choose(sch, tunable, [d for d in (1, 2, 4) if loop_extent(sch, t) % d == 0], 1)
            t_task, t_in = sch.split(t, [None, per_task])
            task = sch.fuse(n, t_task)
            sch.parallel(task)
            sch.reverse_compute_at(out, b)
        else:
            task = sch.fuse(n, t, b)
            sch.parallel(task)
            sch.reverse_compute_at(out, task)
        loops = sch.get_loops(out)
        inner = loops[-1]
        if len(loops) >= 2 and loop_extent(sch, inner) > 1:
            lanes = vector_lanes(target)
            if loop_extent(sch, inner) % lanes == 0 and loop_extent(sch, inner) > lanes:
                _, inner = sch.split(inner, [None, lanes])
            sch.vectorize(inner)
        schedule_leftovers(sch, vector_lanes(target))
        return sch
