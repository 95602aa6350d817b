"""The fused depthwise + group-sparse 1x1 kernel (kernels/dw_pointwise.py) on a CPU.

A task per band of output rows (the kernel's outer block): its depthwise rows go to the
task's own buffer and the 1x1 conv reads them from there; the band's output rows, with the
fused epilogue (the 1x1 conv's bias, a residual add), are written right after, from cache.

No design space: the band is the kernel's (chosen by the Relax pass from the vector width)."""
from __future__ import annotations

from ..common import inline_consumers
from ..rule import Rule
from .registers import vector_lanes
from .tiling import schedule_leftovers, vectorize_whole


class DWPointwise(Rule):
    name = "cpu.dw_pointwise"
    blocks = ("dw_pointwise",)

    def schedule(self, sch, main, target, tunable):
        out = sch.get_sblock("dw_pointwise_out")
        inline_consumers(sch, out)
        n, band = sch.get_loops(main)
        task = sch.fuse(n, band)
        sch.parallel(task)
        sch.reverse_compute_at(out, task)
        lanes = vector_lanes(target)
        vectorize_whole(sch, sch.get_loops(out)[-1], lanes)
        schedule_leftovers(sch, lanes)
        return sch
