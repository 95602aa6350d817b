"""A dense depthwise conv on a CPU: the DR kernel's plan with all taps: one task per (image,
channel), a padded plane per channel, every row one wide vector accumulating its taps."""
from __future__ import annotations

from ...interrupts import reraise_if_interrupt
from ..common import block_named, fold_epilogue, largest_divisor, loop_extent, written_shape
from ..rule import Rule
from .tiling import CHUNK_LANES


class DenseDepthwise(Rule):
    name = "cpu.dense_depthwise"
    blocks = ("group_conv2d_nchw", "depthwise_conv2d_nchw")

    def schedule(self, sch, conv, target, tunable):
        loops = sch.get_loops(conv)
        if len(loops) != 7 or loop_extent(sch, loops[4]) != 1:
            return None                                  # grouped conv with several channels per group
        pad = block_named(sch, "pad_temp")
        tail = fold_epilogue(sch, conv)
        nn, ff, yy, xx, rc, ry, rx = loops
        kw, out_w = loop_extent(sch, rx), loop_extent(sch, xx)
        chunk = largest_divisor(out_w, CHUNK_LANES)
        xo, xi = sch.split(xx, [None, chunk])
        sch.reorder(nn, ff, yy, xo, rc, ry, rx, xi)      # taps inside the pixel chunk: sums stay in registers
        nc = sch.fuse(nn, ff)
        sch.parallel(nc)
        sch.unroll(ry)
        sch.unroll(rx)
        sch.vectorize(xi)
        sch.decompose_reduction(conv, rc)
        if pad is not None:
            sch.compute_at(pad, nc)
            pad_w = written_shape(sch, pad)[-1]
            stride = (pad_w - kw) // (out_w - 1) if out_w > 1 else 1
            try:
                fill = sch.decompose_padding(pad, sch.get_loops(pad)[1])
                sch.vectorize(sch.get_loops(fill)[-1])
            except Exception as err:  # noqa: BLE001 - TVM refuses when there is no padding to decompose
                reraise_if_interrupt(err)
            if stride > 1 and pad_w % stride == 0:        # even/odd columns apart: strided taps load whole vectors
                sch.transform_layout(pad, ("write", 0), lambda n, c, h, w: (n, c, h, w % stride, w // stride))
            sch.vectorize(sch.get_loops(pad)[-1])
        if tail is not None:
            sch.reverse_compute_at(tail, nc)
            sch.vectorize(sch.get_loops(tail)[-1])
        return sch
