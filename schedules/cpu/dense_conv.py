"""A dense NCHW conv (groups 1) on a CPU: a register tile of FF output channels x YU rows x XV
pixels of a row (vectorised); tasks are (channel tile, row tile); the epilogue runs per tile."""
from __future__ import annotations

from ..common import block_named, fold_epilogue, largest_divisor, loop_extent, written_shape
from ..rule import Rule
from .tiling import vectorize_innermost


class DenseConv(Rule):
    name = "cpu.dense_conv"
    blocks = ("conv2d_nchw",)

    def schedule(self, sch, conv, target, tunable):
        pad = block_named(sch, "pad_temp")
        tail = fold_epilogue(sch, conv)
        nn, ff, yy, xx, rc, ry, rx = sch.get_loops(conv)
        n_f, n_h, n_w = loop_extent(sch, ff), loop_extent(sch, yy), loop_extent(sch, xx)
        # at most 16 lanes of one row per vector (wider vectors spill: measured 10x slower),
        # rows unrolled up to 32 lanes, 8 output channels: 16 independent accumulators
        xv = largest_divisor(n_w, 16)
        yu = largest_divisor(n_h, max(1, 32 // xv))
        fv = largest_divisor(n_f, 8 if xv * yu >= 16 else 16)
        fo, fi = sch.split(ff, [None, fv])
        yo, yi = sch.split(yy, [None, yu])
        xo, xi = sch.split(xx, [None, xv])
        sch.reorder(nn, fo, yo, xo, rc, ry, rx, fi, yi, xi)
        task = sch.fuse(nn, fo, yo)
        sch.parallel(task)
        sch.unroll(fi)
        sch.unroll(yi)
        sch.vectorize(xi)
        if pad is not None:
            stage_padded_input(sch, pad, loop_extent(sch, rx), n_w)
        sch.decompose_reduction(conv, rc)
        if tail is not None:
            sch.reverse_compute_at(tail, xo)
            vectorize_innermost(sch, tail, xv)
        return sch


def stage_padded_input(sch, pad, kw: int, out_w: int) -> None:
    """1x1 without padding: the pad block is a copy, inline it. Otherwise build the padded input
    once (a vector memset and copy, parallel), and for a stride s > 1 store it with even and odd
    columns apart, (w % s, w // s): the strided reads of every tap become contiguous vectors."""
    pad_w = written_shape(sch, pad)[-1]
    if kw == 1 and pad_w == out_w:
        sch.compute_inline(pad)
        return
    stride = (pad_w - kw) // (out_w - 1) if out_w > 1 else 1
    fill = sch.decompose_padding(pad, sch.get_loops(pad)[0])
    if stride > 1 and pad_w % stride == 0:
        sch.transform_layout(pad, ("write", 0), lambda n, c, h, w: (n, c, h, w % stride, w // stride))
    for blk in (fill, pad):
        loops = sch.get_loops(blk)
        if len(loops) > 1:
            sch.parallel(sch.fuse(*loops[:-1]))
        sch.vectorize(loops[-1])
