"""The phase form of a stride = kernel ConvTranspose (relax/conv_transpose.py) on a CPU.

Each input pixel feeds an s x s patch of the output, one kernel tap per phase. A register tile
holds FO output channels x s x s phases x one vector of input pixels (a row segment), kept in
phase-major order so the multiply-adds run on whole vectors of the input row; the input vector
is loaded once per input channel and serves every channel and phase of the tile. Once the
reduction is done, the tile is written back interleaved (x = s * x2 + phase), with the
epilogue (bias, folded BatchNorm, activation) applied on the way.
"""
from __future__ import annotations

from ..common import fold_epilogue, largest_divisor, loop_extent, read_shape
from ..rule import Rule
from .registers import accumulator_budget, vector_lanes


class ConvTranspose(Rule):
    name = "cpu.conv_transpose"
    blocks = ("conv2d_transpose_phase",)

    def schedule(self, sch, conv, target, tunable):
        tail = fold_epilogue(sch, conv)
        nn, oo, yy, xx, rc = sch.get_loops(conv)
        sh, sw = read_shape(sch, conv, 1)[2:]
        n_o, n_y, n_x = loop_extent(sch, oo), loop_extent(sch, yy), loop_extent(sch, xx)
        lanes = vector_lanes(target)
        xv = largest_divisor(n_x // sw, lanes)
        fo = largest_divisor(n_o, max(1, accumulator_budget(target) // (sh * sw)))
        o1, o2 = sch.split(oo, [None, fo])
        y1, y2 = sch.split(yy, [None, sh])
        x1, x2 = sch.split(xx, [None, sw])
        x1o, x1i = sch.split(x1, [None, xv])
        sch.reorder(nn, o1, y1, x1o, rc, o2, y2, x2, x1i)
        sch.parallel(sch.fuse(nn, o1, y1))
        acc = sch.cache_write(conv, 0, "local")
        sch.reverse_compute_at(acc, x1o)
        # the tile in phase-major order: acc[o, y phase, x phase, input pixel]
        sch.transform_layout(conv, ("write", 0), lambda n, o, y, x: (n, o, y, x % sw, x // sw))
        sch.unroll(o2)
        sch.unroll(y2)
        sch.unroll(x2)
        sch.vectorize(x1i)
        sch.decompose_reduction(conv, rc)
        if tail is not None:
            sch.reverse_compute_inline(tail)
        inner = sch.get_loops(acc)[-1]                      # an output row segment
        if loop_extent(sch, inner) % lanes == 0:
            _, vec = sch.split(inner, [None, lanes])
            sch.vectorize(vec)
        return sch
