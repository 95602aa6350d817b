"""Whatever no other CPU rule took: parallel outer loops and a vectorised inner loop."""
from __future__ import annotations

import math

from ...interrupts import reraise_if_interrupt
from ..common import broadcast_source, child_blocks, largest_divisor, loop_extent
from ..rule import Rule


class Fallback(Rule):
    name = "cpu.fallback"

    def schedule(self, sch, _block, target, tunable):
        blocks = child_blocks(sch)
        if not blocks:
            return None
        # inline pure elementwise producers so one loop nest writes the output, except a small
        # value broadcast onto a larger one (a squeeze-excite gate: a sigmoid per channel, read
        # by every pixel), which is computed once instead of once per pixel
        for blk in blocks[:-1]:
            if broadcast_source(sch, blk):
                continue
            try:
                sch.compute_inline(blk)
            except Exception as err:  # noqa: BLE001 - TVM refuses producers that cannot inline; they stay
                reraise_if_interrupt(err)
        for blk in child_blocks(sch):
            loops = sch.get_loops(blk)
            iters = sch.get(blk).iter_vars
            if not loops or len(loops) != len(iters) or any(int(iv.iter_type) != 0 for iv in iters):
                continue                              # reductions and odd nests: left to LLVM
            size = math.prod(loop_extent(sch, lp) for lp in loops)
            if size < 1024:                           # too small to share out; a gate's vector still vectorises
                vec = largest_divisor(size, 16)
                if vec >= 4:
                    sch.vectorize(sch.split(sch.fuse(*loops), [None, vec])[1])
                continue
            if len(loops) == 4:
                # NCHW: vectors run along the pixels (H*W) only, so a value indexed by the channel
                # (a bias, a folded BN scale, a scatter's row) is the same for every lane and each
                # vector loads contiguous memory
                outer, inner = sch.fuse(*loops[:2]), sch.fuse(*loops[2:])
            else:
                outer, inner = None, sch.fuse(*loops)
            vec = largest_divisor(loop_extent(sch, inner), 16)
            inner_outer, inner_vec = sch.split(inner, [None, vec])
            sch.parallel(sch.fuse(outer, inner_outer) if outer is not None else inner_outer)
            if vec > 1:
                sch.vectorize(inner_vec)
        return sch

