"""Tile sizes the CPU rules share: pixel chunks that keep vectors whole and inside image rows."""
from __future__ import annotations

from ..common import largest_divisor, loop_extent

CHUNK_LANES = 64          # pixels per vector chunk: 4 AVX-512 registers of independent FMAs



def pixel_chunk(pixels: int, width: int) -> int:
    """Pixels per vector chunk of the 1x1 kernel: divides the image (no reads past its end),
    whole rows when rows are short, at most CHUNK_LANES, preferring multiples of 16."""
    if width <= CHUNK_LANES:
        rows = largest_divisor(pixels // width, max(1, CHUNK_LANES // width))
        return rows * width
    return largest_divisor(width, CHUNK_LANES, 16 if width % 16 == 0 else 1)


def pixel_chunks(pixels: int, width: int) -> list[int]:
    """Every aligned chunk the 1x1 kernel may use: whole rows (up to CHUNK_LANES) or divisors of
    a long row; each divides the image."""
    if width <= CHUNK_LANES:
        return [r * width for r in range(1, CHUNK_LANES // width + 1) if (pixels // width) % r == 0]
    return [d for d in range(8, CHUNK_LANES + 1, 8) if width % d == 0] or [pixel_chunk(pixels, width)]


def vectorize_in_rows(sch, loop, chunk: int, width: int) -> None:
    """Vectorise a flat pixel loop only where a vector stays inside one image row: vectors whose
    y = p // W, x = p % W indices wrap rows are miscompiled by TVM 0.27's vectorizer."""
    if chunk % width == 0:
        _, inner = sch.split(loop, [None, width])
        sch.vectorize(inner)
    elif width % chunk == 0:
        sch.vectorize(loop)


def loops_below(sch, block, loop) -> list:
    """The loops of `block` nested inside `loop`: its own, after a compute-at there (TVM elides
    loops of extent 1, so there may be none)."""
    loops = sch.get_loops(block)
    stmt = sch.get(loop)
    for i, lp in enumerate(loops):
        if sch.get(lp).same_as(stmt):
            return loops[i + 1:]
    return loops


def vectorize_whole(sch, loop, lanes: int) -> None:
    """Vectorise `loop` with no predicated tail: whole when it spans at most four vectors (LLVM
    splits an odd width such as 28 into 16 + 8 + 4 lanes), else in the largest chunk up to four
    vectors that divides it. A split at `lanes` that does not divide the extent leaves a
    predicated tail, which TVM scalarises and LLVM then turns into gathers and scatters across
    the unrolled rows around it (3x slower on AVX-512 for a 28-pixel row)."""
    ext = loop_extent(sch, loop)
    if ext > 4 * lanes:
        chunk = lanes if ext % lanes == 0 else largest_divisor(ext, 4 * lanes)
        loop = sch.split(loop, [None, chunk])[1]
    sch.vectorize(loop)


def vectorize_innermost(sch, block, width: int, below=None) -> None:
    """Vectorise `block`'s innermost loop (only among its loops under `below`, when given: a
    loop it shares with the block computed there is never vectorised)."""
    loops = sch.get_loops(block) if below is None else loops_below(sch, block, below)
    if not loops:
        return
    loop = loops[-1]
    ext = loop_extent(sch, loop)
    if ext > width and ext % width == 0:
        loop = sch.split(loop, [None, width])[1]
    sch.vectorize(loop)



def schedule_leftovers(sch, lanes: int) -> None:
    """Blocks of the function that a rule did not place (an epilogue that could not fold into
    the kernel, e.g. a squeeze-excite gate broadcast onto a larger tensor; all its loops still
    serial): parallel over their outer loops, vectorised along their last one."""
    from tvm import tirx

    from ..common import child_blocks

    for blk in child_blocks(sch):
        loops = sch.get_loops(blk)
        if not loops or any(sch.get(lp).kind != tirx.ForKind.SERIAL for lp in loops):
            continue
        if any(int(iv.iter_type) != 0 for iv in sch.get(blk).iter_vars):
            continue
        if len(loops) > 1:
            sch.parallel(sch.fuse(*loops[:-1]))
        vectorize_whole(sch, loops[-1], lanes)
