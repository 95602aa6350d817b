"""A dense NCHW conv (groups 1) on a CPU: a register tile of FV output channels x YU rows x one
vector of XV pixels of a row, sized to the target's vector registers (registers.py); tasks
are (channel tile, row tile), in the order that re-reads fewer bytes (row tiles outer: the
weight is read again per row tile; channel tiles outer: the input per channel tile).

The input channels are walked in blocks of RC: for each block the tile sweeps the whole
output row, so the block's weights and input rows stay in L1 while the row's partial sums stay
in the output (L1 / L2); the epilogue runs once per task. A conv with one block of input
channels (a first conv on 3-channel images) instead finishes each tile before the next: its
sums never leave the registers, its few taps are unrolled, and the epilogue runs per tile.
Measured on MobileNet-V2's first conv (3->32, 3x3/2, 112x112 out; 2 threads): 452 -> 343 us
warm, 581 -> 500 us after a 48 MB sweep of the caches.

Design space (tunable): the task order. (A padded conv's trace holds DecomposePadding, which
TVM 0.27 cannot print as Python; the tuner then searches MetaSchedule's space instead.)
"""
from __future__ import annotations

from ..common import (block_named, choose, decided, fold_epilogue, largest_divisor, loop_extent, read_shape,
                      written_shape)
from ..rule import Rule
from .registers import accumulator_budget, vector_lanes
from .tiling import vectorize_innermost

RC_BLOCK = 8            # input channels per block: 8 x 3 rows x (row + halo) floats fit in L1
UNROLL_TAPS = 27        # a single channel block of at most this many taps is unrolled


class DenseConv(Rule):
    name = "cpu.dense_conv"
    blocks = ("conv2d_nchw",)

    def schedule(self, sch, conv, target, tunable):
        pad = block_named(sch, "pad_temp")
        tail = fold_epilogue(sch, conv)
        nn, ff, yy, xx, rc, ry, rx = sch.get_loops(conv)
        n_f, n_h, n_w, n_c = (loop_extent(sch, lp) for lp in (ff, yy, xx, rc))
        lanes, budget = vector_lanes(target), accumulator_budget(target)
        xv = largest_divisor(n_w, lanes)
        fv, yu = register_tile(n_f, n_h, budget)
        rcb = largest_divisor(n_c, RC_BLOCK)
        fo, fi = sch.split(ff, [None, fv])
        yo, yi = sch.split(yy, [None, yu])
        xo, xi = sch.split(xx, [None, xv])
        rco, rci = sch.split(rc, [None, rcb])
        n_taps = loop_extent(sch, ry) * loop_extent(sch, rx)
        outer = (yo, fo) if rows_outer(sch, tunable, pad, n_f, n_h, n_w, fv, yu, n_taps) else (fo, yo)
        one_block = n_c <= rcb
        if one_block:
            sch.reorder(nn, *outer, xo, rco, rci, ry, rx, fi, yi, xi)
        else:
            sch.reorder(nn, *outer, rco, xo, rci, ry, rx, fi, yi, xi)
        task = sch.fuse(nn, *outer)
        sch.parallel(task)
        sch.unroll(fi)
        sch.unroll(yi)
        sch.vectorize(xi)
        if one_block and rcb * n_taps <= UNROLL_TAPS:
            for lp in (rci, ry, rx):
                sch.unroll(lp)
        if pad is not None:
            stage_padded_input(sch, pad, loop_extent(sch, rx), n_w)
        sch.decompose_reduction(conv, rco)
        if tail is not None:
            at = xo if one_block else task
            sch.reverse_compute_at(tail, at)
            vectorize_innermost(sch, tail, lanes, below=at)
        return sch


def rows_outer(sch, tunable, pad, n_f: int, n_h: int, n_w: int, fv: int, yu: int, n_taps: int) -> bool:
    """Row tiles outer when the weight's re-reads (once per row tile: F x taps per input
    channel) move fewer bytes than the input's (once per channel tile: the padded image per input
    channel); tunable."""
    image = 1
    for d in (written_shape(sch, pad)[-2:] if pad is not None else (n_h, n_w)):
        image *= d
    default = (n_h // yu) * n_f * n_taps < (n_f // fv) * image
    return bool(decided(sch, choose(sch, tunable, [0, 1], int(default))))


def register_tile(n_f: int, n_h: int, budget: int) -> tuple[int, int]:
    """(output channels, rows) of the register tile: the most accumulators within `budget`,
    two rows first. Measured on a 96->24 3x3 conv (AVX2, 12 accumulators): 6 channels x 2
    rows ran 33 GMAC/s, 12 x 1 31, 4 x 3 26 (onnxruntime 38-40)."""
    options = []
    for rank, yu in enumerate((2, 1, 3, 4)):
        if n_h % yu == 0:
            fv = largest_divisor(n_f, max(1, budget // yu))
            options.append((fv * yu, -rank, fv, yu))
    _, _, fv, yu = max(options)
    return fv, yu


def stage_padded_input(sch, pad, kw: int, out_w: int) -> None:
    """No padding (a 1x1 conv, strided or not): the pad block is a copy, inline it. Otherwise
    build the padded input once (a vector memset and copy, parallel), and for a stride s > 1
    store it with even and odd columns apart, (w % s, w // s): the strided reads of every tap
    become contiguous vectors."""
    pad_w = written_shape(sch, pad)[-1]
    if (kw == 1 and pad_w == out_w) or read_shape(sch, pad, 0) == written_shape(sch, pad):   # a copy
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
