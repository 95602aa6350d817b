"""The DR sparse depthwise kernel on a CPU: one task per (image, channel); the zero-padded input
plane of that channel is built in a scratch buffer; every output row is one wide vector
(16-lane multiples) whose K loop is the channel's kept taps; the fused epilogue runs on the
channel's plane while it is in L1.

Design space (tunable): the pixel chunk, over whole 16-lane vectors of one row."""
from __future__ import annotations

from ..common import choose, inline_consumers, largest_divisor, loop_extent
from ..rule import Rule
from .tiling import CHUNK_LANES


class DRDepthwise(Rule):
    name = "cpu.dr_depthwise"
    blocks = ("dr_depthwise",)

    def schedule(self, sch, main, target, tunable):
        out = sch.get_sblock("dr_depthwise_out")
        pad = sch.get_sblock("dr_depthwise_pad")
        inline_consumers(sch, out)
        n, c, y, x = sch.get_loops(main)
        nc = sch.fuse(n, c)
        sch.parallel(nc)
        width = loop_extent(sch, x)
        options = [d for d in (16, 32, 64) if width % d == 0] or [largest_divisor(width, CHUNK_LANES)]
        chunk = choose(sch, tunable, options, largest_divisor(width, CHUNK_LANES))
        _, xi = sch.split(x, [None, chunk])
        sch.vectorize(xi)
        # The channel's padded plane, built right before its rows are used (L1). Not decomposed
        # into memset + copy: no faster here, and TVM 0.27 cannot print a trace holding
        # decompose_padding, which MetaSchedule does when it searches this design space.
        sch.compute_at(pad, nc)
        sch.reverse_compute_at(out, nc)
        sch.vectorize(sch.get_loops(out)[-1])
        return sch
