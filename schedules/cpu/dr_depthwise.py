"""The DR sparse depthwise kernel's CPU form (kernels/dr_depthwise.py: build_cpu) on a CPU.

One task per (image, channel): the channel's zero-padded plane is built first (a vector memset
and a vector copy, its columns split by phase for a strided conv), then each block of output
rows walks the channel's kept columns with its sums in registers, and the output rows, with
the fused epilogue, are written while they are in cache.

No design space: the tile is the kernel's (chosen by the Relax pass from the vector width)."""
from __future__ import annotations

from ..common import block_named, inline_consumers
from ..rule import Rule
from .registers import vector_lanes
from .tiling import schedule_leftovers, vectorize_whole


class DRDepthwise(Rule):
    name = "cpu.dr_depthwise"
    blocks = ("dr_depthwise",)

    def schedule(self, sch, main, target, tunable):
        out = sch.get_sblock("dr_depthwise_out")
        pad = block_named(sch, "dr_depthwise_pad")
        if pad is None:
            return None                                   # the GPU form
        inline_consumers(sch, out)
        n, c, yo, xo = sch.get_loops(main)
        nc = sch.fuse(n, c)
        sch.parallel(nc)
        lanes = vector_lanes(target)
        sch.compute_at(pad, nc)
        sch.reverse_compute_at(out, yo)
        vectorize_whole(sch, sch.get_loops(out)[-1], lanes)
        schedule_leftovers(sch, lanes)
        return sch
