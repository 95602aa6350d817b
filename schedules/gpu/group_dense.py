"""The group-sparse kernel on a GPU: threadIdx.x along pixels (the input rows of a group load
coalesced), threadIdx.y across row blocks; each thread computes the gr rows of its block,
walking the block's groups (balanced blocks — `--balanced` — give every warp the same work). On
Mali every thread also takes 4 consecutive pixels as float4 (the kernel's vector lanes: vload4
of the input rows). A dense layer (one pixel) spreads (image, row block) over the threads. The
gather back to every row is its own kernel, along pixels, and carries the epilogue.

Design space: pixel threads, row-block threads."""
from __future__ import annotations

from ..common import inline_consumers, loop_extent, written_shape
from ..rule import Rule
from . import GPUKnobs, knob
from .leftovers import bind_leftovers


class GroupDense(Rule):
    name = "gpu.group_dense"
    target_keys = ("gpu",)
    blocks = ("group_dense",)

    def schedule(self, sch, main, target, tunable):
        knobs: GPUKnobs = self.options.get("knobs", GPUKnobs())
        out = sch.get_sblock("group_dense_out")
        gather = sch.get_sblock("group_dense_gather")
        inline_consumers(sch, out)
        n, b, p = sch.get_loops(main)
        threads = knobs.default_pixel_threads
        conv = loop_extent(sch, p) > 1 or len(written_shape(sch, out)) == 4
        if conv:                                          # 1x1 conv: (n, row block, pixel [vector])
            tx = knob(sch, tunable, knobs.pixel_threads, knobs.default_pixel_threads)
            ty = knob(sch, tunable, knobs.block_threads, knobs.default_block_threads, loop_extent(sch, b))
            po, pi = sch.split(p, [None, tx])
            bo, bi = sch.split(b, [None, ty])
            sch.reorder(n, bo, po, bi, pi)
            sch.bind(sch.fuse(n, bo, po), "blockIdx.x")
            sch.bind(bi, "threadIdx.y")
            sch.bind(pi, "threadIdx.x")
        else:                                             # dense layer: (row, row block)
            fused = sch.fuse(n, b, p)
            bx, tx = sch.split(fused, [None, threads])
            sch.bind(bx, "blockIdx.x")
            sch.bind(tx, "threadIdx.x")
        # the gather (row_pos) is its own kernel, its threads along pixels; the epilogue rides in it
        gl = sch.get_loops(gather)
        fused = sch.fuse(*gl)
        total = loop_extent(sch, fused)
        vec = knobs.pixel_vector if conv and int(written_shape(sch, out)[-1]) % knobs.pixel_vector == 0 \
            and total % knobs.pixel_vector == 0 else 1
        bx, tx, tv = sch.split(fused, [None, threads, vec])
        sch.bind(bx, "blockIdx.x")
        sch.bind(tx, "threadIdx.x")
        sch.reverse_compute_at(out, tx if vec == 1 else tv)
        bind_leftovers(sch, threads)
        return sch
