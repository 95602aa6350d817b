"""The group-sparse kernel on a CPU: one task per (pixel chunk, row block); the chunk of input
rows a block's groups touch stays in cache while all row blocks use it; gr rows share each
input load. A dense layer (one pixel per image) makes (image, row block) the tasks.

Design space (tunable): the pixel chunk, over row-aligned values of the same kind as the
default."""
from __future__ import annotations

from ..common import choose, inline_consumers, loop_extent, written_shape
from ..rule import Rule
from .tiling import pixel_chunk, pixel_chunks, vectorize_in_rows


class GroupDense(Rule):
    name = "cpu.group_dense"
    blocks = ("group_dense",)

    def schedule(self, sch, main, target, tunable):
        out = sch.get_sblock("group_dense_out")
        gather = sch.get_sblock("group_dense_gather")
        inline_consumers(sch, out)
        n, b, p = sch.get_loops(main)
        pixels = loop_extent(sch, p)
        if pixels == 1:                              # dense layer: (row, row block)
            sch.parallel(sch.fuse(n, b))
            return sch
        threads = int(target.attrs.get("num-cores", 1))
        width = written_shape(sch, out)[-1]
        chunk = pixel_chunk(pixels, width)
        if tunable:                                  # aligned alternatives of the same kind as the default
            same = [c for c in pixel_chunks(pixels, width) if (c % width == 0) == (chunk % width == 0)]
            chunk = choose(sch, True, same, chunk) if len(same) > 1 else chunk
        po, pi = sch.split(p, [None, chunk])
        sch.reorder(n, po, b, pi)
        sch.vectorize(pi)
        if loop_extent(sch, n) * (pixels // pixel_chunk(pixels, width)) >= 4 * threads:
            # enough pixel chunks: one task per chunk, its output gathered while in cache
            task = sch.fuse(n, po)
            sch.parallel(task)
            for blk in (gather, out):
                sch.reverse_compute_at(blk, task)
                vectorize_in_rows(sch, sch.get_loops(blk)[-1], pixel_chunk(pixels, width), width)
        else:
            # few pixels (late layers): row blocks are tasks too; gather and output are a pass
            sch.parallel(sch.fuse(n, po, b))
            gn, gf, gp = sch.get_loops(gather)
            sch.parallel(sch.fuse(gn, gf))
            sch.reverse_compute_at(out, sch.get_loops(gather)[0])
            for blk in (gather, out):
                lp = sch.get_loops(blk)[-1]
                vectorize_in_rows(sch, lp, loop_extent(sch, lp), width)
        return sch
