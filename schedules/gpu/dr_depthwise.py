"""The DR sparse depthwise kernel on a GPU: threadIdx.x runs along output pixels (coalesced
loads), threadIdx.y across channels of one DR sub-GEMM; every warp walks one channel's compact
list of kept taps, so the K loop is uniform in the warp and its length is the pruned K. Where a
thread block owns whole channel planes and they fit, the input planes are staged in shared
memory first (cooperative, coalesced) and the taps read them from there.

Design space: pixel threads, channel threads."""
from __future__ import annotations

from ..common import inline_consumers, loop_extent
from ..rule import Rule
from . import GPUKnobs, knob
from .leftovers import bind_leftovers


class DRDepthwise(Rule):
    name = "gpu.dr_depthwise"
    target_keys = ("gpu",)
    blocks = ("dr_depthwise",)

    def schedule(self, sch, main, target, tunable):
        knobs: GPUKnobs = self.options.get("knobs", GPUKnobs())
        out = sch.get_sblock("dr_depthwise_out")
        inline_consumers(sch, out)
        n, c, y, x = sch.get_loops(main)
        channels = loop_extent(sch, c)
        ty = knob(sch, tunable, knobs.channel_threads, knobs.default_channel_threads, channels)
        tx = knob(sch, tunable, knobs.pixel_threads, knobs.default_pixel_threads)
        in_shape = [int(d) for d in sch.get(main).reads[-1].source.shape]
        plane_bytes = in_shape[2] * in_shape[3] * 4
        cty = ty if isinstance(ty, int) else max(knobs.channel_threads)
        stage = knobs.shared_staging and plane_bytes * cty <= knobs.shared_bytes
        p = sch.fuse(y, x)
        co, ci = sch.split(c, [None, ty])
        po, pi = sch.split(p, [None, tx])
        sch.reorder(n, co, po, ci, pi)
        if stage:                               # a block owns whole planes: stage them, walk the tiles
            bx = sch.fuse(n, co)
        else:
            bx = sch.fuse(n, co, po)
        sch.bind(bx, "blockIdx.x")
        sch.bind(ci, "threadIdx.y")
        sch.bind(pi, "threadIdx.x")
        sch.reverse_compute_at(out, pi)
        sch.set_scope(main, 0, "local")
        if stage:
            cache = sch.cache_read(main, len(sch.get(main).reads) - 1, "shared")
            sch.compute_at(cache, bx)
            loops = sch.get_loops(cache)[1:]
            fused = sch.fuse(*loops)
            _, cy, cx = sch.split(fused, [None, ty, tx])
            sch.bind(cy, "threadIdx.y")
            sch.bind(cx, "threadIdx.x")
        bind_leftovers(sch, knobs.default_pixel_threads)
        return sch
