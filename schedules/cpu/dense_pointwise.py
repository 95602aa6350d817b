"""The dense 1x1 conv kernel (kernels/pointwise.py: a GEMM over flat pixels) on a CPU.

A register tile is accumulated over the whole K loop and written back, through the fused
epilogue (bias, folded BN, activation, residual add), straight from the registers. Tasks are
(channel tile, pixel tile) pairs. Two forms, so that no tile is partial (a partial tile's bounds
check keeps its accumulators out of registers):

- pixels in the vector lanes, where a whole number of vectors divides the pixel count
  (112x112, 56x56, 28x28): FR channels x TP pixels; per k, FR weight broadcasts and TP/lanes
  vector loads of the input;
- channels in the vector lanes otherwise (14x14 = 196, 7x7 = 49 pixels): FV vectors of
  channels x PR pixels; per k, FV vector loads of the weight ([K, F]: contiguous) and PR input
  broadcasts; the tile is stored back with a stride. Where the channels are not whole vectors
  either (40 of them on 16 lanes), the vectors are narrowed to 8 or 4 lanes.

Tasks run channel tiles outer or pixel tiles outer, whichever reads fewer bytes again (the
input once per channel tile, or the weight once per pixel tile).

Design space (tunable): the tile's two sizes of the form in use and the task order."""
from __future__ import annotations

from ..common import choose, decided, inline_consumers, largest_divisor, loop_extent
from ..rule import Rule
from .registers import cores, vector_lanes
from .tiling import schedule_leftovers

class DensePointwise(Rule):
    name = "cpu.dense_pointwise"
    blocks = ("pointwise",)

    def schedule(self, sch, main, target, tunable):
        out = sch.get_sblock("pointwise_out")
        inline_consumers(sch, out)                  # a broadcast tail (a squeeze-excite gate) stays apart
        n, f, p, k = sch.get_loops(main)
        lanes = vector_lanes(target)
        regs = 32 if lanes == 16 else 16
        n_f, n_p = loop_extent(sch, f), loop_extent(sch, p)
        if n_p < lanes:                             # a 1x1 conv on a vector (squeeze-excite)
            if n_f % lanes:
                return None                         # too small to vectorise either way: fallback
            return _channels_in_lanes(sch, main, out, (n, f, p, k), n_f, n_p, lanes, regs, tunable)
        whole = [v * lanes for v in (2, 1, 3, 4) if n_p % (v * lanes) == 0]
        if whole:
            return _pixels_in_lanes(sch, main, out, (n, f, p, k), n_f, n_p, lanes, regs, tunable, cores(target))
        # neither a whole number of pixel vectors nor of channel vectors: narrower channel
        # vectors (8 or 4 lanes) where they divide the channels, since a row of pixels as one
        # odd-length vector ran 5-6x slower (96->40 at 14x14: 161 against 28 us for 96->48)
        narrow = next((w for w in (lanes, lanes // 2, lanes // 4) if w >= 4 and n_f % w == 0), None)
        if narrow is None:
            return _pixels_in_lanes(sch, main, out, (n, f, p, k), n_f, n_p, lanes, regs, tunable, cores(target))
        return _channels_in_lanes(sch, main, out, (n, f, p, k), n_f, n_p, narrow, regs, tunable)


MAX_SUM_FLOATS = 128      # a tile's sums stay in registers only up to this many floats


def register_tile(broadcast: list[int], vectors: list[int], regs: int, lanes: int = 8) -> tuple[int, int]:
    """The (broadcast count, vector count) register tile with the most accumulators that fits:
    b * v accumulators (at most 3/4 of the registers: the rest hold the v vector loads and the
    broadcasts of a k step) of `lanes` floats each, MAX_SUM_FLOATS at most (measured on Zen 4,
    16 lanes: tiles of 192-224 floats, 7x2, 14x1 or 4x3 vectors of sums, ran a 64->384 1x1 conv
    at 14x14 at 10-13 GFLOP/s, 7x1 at 115-145; pixels in the lanes, 24->144 at 56x56, 2x4 = 128
    floats ran 166). Ties go to fewer loads per k. Enough accumulators hide the FMA latency
    (two units, ~4 cycles)."""
    fits = [(b, v) for b in broadcast for v in vectors
            if b * v <= regs * 3 // 4 and b * v + v + 1 <= regs and b * v * lanes <= MAX_SUM_FLOATS]
    if not fits:
        return min(broadcast), min(vectors)
    return max(fits, key=lambda t: (t[0] * t[1], -(t[0] + t[1]), t[1]))


def _pixels_in_lanes(sch, main, out, loops, n_f, n_p, lanes, regs, tunable, threads=1):
    n, f, p, k = loops
    rows = [r for r in range(1, 13) if n_f % r == 0]
    tiles = [v * lanes for v in (1, 2, 3, 4) if n_p % (v * lanes) == 0] or [n_p]
    if tiles == [n_p]:
        vecs = -(-n_p // lanes)
        fr_default = next((r for r in sorted(rows, reverse=True)
                           if r * vecs <= regs - 4 and r * vecs * lanes <= MAX_SUM_FLOATS), 1)
        tp_default = n_p
    else:
        fr_default, v = register_tile(rows, [t // lanes for t in tiles], regs, lanes)
        tp_default = v * lanes
    fr = choose(sch, tunable, [r for r in rows if r <= 12], fr_default)
    tp = choose(sch, tunable, tiles, tp_default)
    fo, fi = sch.split(f, [None, fr])
    po, pi = sch.split(p, [None, tp])
    whole = tiles[0] % lanes == 0
    outer = _task_order(sch, tunable, fo, po, n_f, n_p, fr, tp)
    serial = ()
    if outer[0].same_as(po):
        outer, serial = _pixel_blocks(sch, po, fo, n_p, decided(sch, tp), threads)
    if whole:
        pvi, lane = sch.split(pi, [None, lanes])
        sch.reorder(n, *outer, *serial, k, fi, pvi, lane)
    else:
        pvi, lane = None, pi
        sch.reorder(n, *outer, *serial, k, fi, lane)
    local = _accumulate_in_registers(sch, main, out, n, outer, serial)
    sch.unroll(fi)
    if pvi is not None:
        sch.unroll(pvi)
    sch.vectorize(lane)
    sch.decompose_reduction(main, k)
    wl = sch.get_loops(local)[1:]                 # (channels, pixels); a unit loop is elided
    wp = wl[-1]
    if len(wl) == 2:
        sch.unroll(wl[0])
    if whole:
        wpo, wp = sch.split(wp, [None, lanes])
        sch.unroll(wpo)
    sch.vectorize(wp)
    schedule_leftovers(sch, lanes)
    return sch


def _channels_in_lanes(sch, main, out, loops, n_f, n_p, lanes, regs, tunable):
    n, f, p, k = loops
    widths = [v * lanes for v in (1, 2, 3) if n_f % (v * lanes) == 0]
    pixel_rows = [d for d in range(1, 15) if n_p % d == 0]
    # 16 lanes: one vector of channels by default, a form-specific limit the float cap does not
    # catch (measured on Zen 4, 64->384 at 14x14: 7x1 vectors of sums 145 GFLOP/s, 2x2 81, 2x3
    # 48, 4x2 16, all within 128 floats); the wider tiles stay tunable
    vectors = [1] if lanes >= 16 else [w // lanes for w in widths]
    pr_default, fvec = register_tile(pixel_rows, vectors, regs, lanes)
    fv = choose(sch, tunable, widths, fvec * lanes)
    pr = choose(sch, tunable, pixel_rows, pr_default)
    fo, fi = sch.split(f, [None, fv])
    fvi, lane = sch.split(fi, [None, lanes])
    po, pi = sch.split(p, [None, pr])
    outer = _task_order(sch, tunable, fo, po, n_f, n_p, fv, pr)
    sch.reorder(n, *outer, k, pi, fvi, lane)
    local = _accumulate_in_registers(sch, main, out, n, outer)
    # the sums pixel-major, so that a vector of channels is contiguous in the main loop and
    # where the epilogue reads it back; channel-major, each epilogue vector was gathered lane by
    # lane (Zen 4, 2 threads, 96->576 at 14x14: 145-152 -> 110-123 us, 160->960 at 7x7: 95-104
    # -> 75-82)
    sch.transform_layout(main, ("write", 0), lambda nn, ff, pp: (nn, pp, ff))
    sch.unroll(pi)
    sch.unroll(fvi)
    sch.vectorize(lane)
    sch.decompose_reduction(main, k)
    wl = sch.get_loops(local)[1:]                 # (channels, pixels); a unit loop is elided
    if len(wl) == 2:
        sch.reorder(wl[1], wl[0])
        sch.unroll(wl[1])
    wfo, wlane = sch.split(wl[0], [None, lanes])
    sch.unroll(wfo)
    sch.vectorize(wlane)
    schedule_leftovers(sch, lanes)
    return sch


def _task_order(sch, tunable, fo, po, n_f, n_p, rows, cols):
    """The parallel tasks' order: channel tiles outer read the whole input once per channel
    tile, pixel tiles outer the whole weight once per pixel tile. The default moves fewer bytes
    (pixels outer for the large early layers, whose input outgrows the caches; channels outer
    for the late ones, whose weight does); tunable."""
    rows, cols = decided(sch, rows), decided(sch, cols)
    pixels_first = n_f * (n_p // cols) < n_p * (n_f // rows)   # weight re-reads < input re-reads (x K)
    pixels_first = decided(sch, choose(sch, tunable, [0, 1], int(pixels_first)))
    return (po, fo) if pixels_first else (fo, po)


def _accumulate_in_registers(sch, main, out, n, tasks, serial=()):
    """The tile's sums in a buffer of their own, written back (and through the epilogue) per
    tile; the tiles (or, with `serial` loops inside, blocks of tiles) are the parallel tasks.
    Returns the write-back block.

    The buffer is "global": under 1 KB, a stack slot of the task, which LLVM turns into
    registers ("local" would be a runtime workspace allocation per task). With pixels in the lanes
    the stack slot wins (24->144 at 56x56: 150 -> 106 us, 32->192 at 28x28: 65 -> 44); with
    channels in the lanes it wins too once the sums are laid out pixel-major (channel-major,
    LLVM split the slot into scalars and shuffled them on every k, 3-4x slower)."""
    local = sch.cache_write(main, 0, "global")
    sch.reverse_compute_at(local, serial[-1] if serial else tasks[-1])
    sch.reverse_compute_inline(out)
    sch.parallel(sch.fuse(n, *tasks))
    return local


PIXEL_BLOCK = 1024        # pixels per task when pixel tiles run outer (4 KB of each output row)


def _pixel_blocks(sch, po, fo, n_p, tp, threads):
    """Pixel tiles outer, on a large image: each task a block of PIXEL_BLOCK pixels, its channel
    tiles in turn. A task then writes every output channel's block whole and re-reads its input
    block from L1/L2; tasks of one pixel tile each wrote a few vectors into every output
    channel's row in turn, 2-3x slower at 160x160 and 320x320 (measured alone, 2 threads).

    Where the blocks do not share out evenly over the threads (56x56 = 49 tiles of 64 pixels: 7
    blocks, 4 + 3 on two threads), the channel tiles are cut into `threads` parts that are
    tasks too (7 x 2 tasks), each re-reading its input block from the cache."""
    tiles = n_p // tp
    per = largest_divisor(tiles, max(1, PIXEL_BLOCK // tp))
    if per < 2 or tiles < 4 * per:
        return (po, fo), ()
    pb, pbi = sch.split(po, [None, per])
    blocks = tiles // per
    if threads > 1 and blocks % threads and loop_extent(sch, fo) % threads == 0:
        fp, fs = sch.split(fo, [threads, None])
        return (pb, fp), (fs, pbi)
    return (pb,), (fo, pbi)
