"""A depthwise conv left dense, on a GPU: threads along pixels and channels, taps unrolled
(instead of dlight's one 256-thread group per output pixel).

Design space: pixel threads, channel threads."""
from __future__ import annotations

from ..common import block_named, loop_extent
from ..rule import Rule
from . import GPUKnobs, knob
from .leftovers import bind_leftovers


class DenseDepthwise(Rule):
    name = "gpu.dense_depthwise"
    target_keys = ("gpu",)
    blocks = ("group_conv2d_nchw", "depthwise_conv2d_nchw")

    def schedule(self, sch, conv, target, tunable):
        knobs: GPUKnobs = self.options.get("knobs", GPUKnobs())
        loops = sch.get_loops(conv)
        if len(loops) != 7 or loop_extent(sch, loops[4]) != 1:
            return None
        consumers = sch.get_consumers(conv)
        pad = block_named(sch, "pad_temp")
        if pad is not None:
            sch.compute_inline(pad)
        tail = None
        while len(consumers) == 1:                       # fold the epilogue chain into its last block
            nxt = consumers[0]
            if tail is not None:
                sch.compute_inline(tail)
            tail = nxt
            consumers = sch.get_consumers(nxt)
        nn, ff, yy, xx, rc, ry, rx = loops
        ty = knob(sch, tunable, knobs.channel_threads, knobs.default_channel_threads, loop_extent(sch, ff))
        tx = knob(sch, tunable, knobs.pixel_threads, knobs.default_pixel_threads)
        p = sch.fuse(yy, xx)
        fo, fi = sch.split(ff, [None, ty])
        po, pi = sch.split(p, [None, tx])
        sch.reorder(nn, fo, po, fi, pi, rc, ry, rx)
        sch.bind(sch.fuse(nn, fo, po), "blockIdx.x")
        sch.bind(fi, "threadIdx.y")
        sch.bind(pi, "threadIdx.x")
        sch.unroll(ry)
        sch.unroll(rx)
        sch.set_scope(conv, 0, "local")
        if tail is not None:
            sch.reverse_compute_at(tail, pi)
        bind_leftovers(sch, knobs.default_pixel_threads)
        return sch
