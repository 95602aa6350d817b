"""The CPU (llvm): sub-GEMM channels are parallel tasks, pixels are vectorised.

Geometry: the DR group and K tile only matter to the mask step here (a CPU walks each channel's
own kept taps, so any K is as fast as its length); output rows are padded to 16 lanes so every
vector is whole (one AVX-512 register, two AVX2 registers).

Schedules (dlight-style rules, `apply(func, target, tunable)`):
- dr_depthwise: one task per (image, channel); the zero-padded input plane of that channel is
  built in a scratch buffer, every output row is one wide vector (16-lane multiples) whose K
  loop is the channel's kept taps; the fused epilogue runs on the channel's plane while it is
  in L1.
- group_dense: one task per (pixel chunk, row block); the chunk of input rows a block's groups
  touch stays in cache while all row blocks use it; gr rows share each input load.
- fallback: every other function gets its outer spatial loops parallel and its inner loop
  vectorised where the extent allows.

Design space (tunable=True, for MetaSchedule): the pixel chunk of both sparse rules, over
aligned values only (whole vectors of one row for the DR kernel, whole rows or row divisors for
the group kernel). The dense-layer rules are fixed heuristics.
"""
from __future__ import annotations

import math

from . import TargetSpec, register
from .common import (as_dlight_rules, block_named, child_blocks, fold_epilogue, guarded, inline_consumers,
                     largest_divisor, loop_extent, written_shape)
from .cost import SparseCost
from .geometry import TileGeometry

GEOMETRY = TileGeometry(dr_group=16, k_tile=4, group=(1, 4), thread_rows=4, workgroup_rows=16,
                        vector_width=16, tile_overhead=1.0, pixel_tile=16)

# Measured here (BENCHMARKS.md, per layer against the dense schedules of this file): the DR
# kernel wins from ~50% pruned on; a stored multiply-add of the group kernel costs about two of
# the dense 1x1 conv's (tools/bench_pw.py: a 90% 1x4-group layer runs in 0.15-0.32 of the dense
# time); a 50% filter-pruned layer runs compact (dense kernel on the kept filters, 0.35-0.52).
COST = SparseCost(dw_column=1.6, group_mac=2.0, group_fixed=2.0,
                  group_shapes=((1, 1), (1, 4), (1, 8), (4, 1), (4, 4), (1, 16)))

CHUNK_LANES = 64          # pixels per vector chunk: 4 AVX-512 registers of independent FMAs


def schedule_dr_depthwise(func, target, tunable):
    from tvm import s_tir

    sch = s_tir.Schedule(func)
    main = block_named(sch, "dr_depthwise")
    if main is None or "cpu" not in target.keys:
        return None
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


def schedule_group_dense(func, target, tunable):
    from tvm import s_tir

    sch = s_tir.Schedule(func)
    main = block_named(sch, "group_dense")
    if main is None or "cpu" not in target.keys:
        return None
    out = sch.get_sblock("group_dense_out")
    gather = sch.get_sblock("group_dense_gather")
    inline_consumers(sch, out)
    loops = sch.get_loops(main)
    threads = int(target.attrs.get("num-cores", 1))
    if len(loops) == 3:                          # 1x1 conv: (n, row block, pixel)
        n, b, p = loops
        width = written_shape(sch, out)[-1]
        pixels = loop_extent(sch, p)
        chunk = pixel_chunk(pixels, width)
        if tunable:                              # aligned alternatives of the same kind as the default
            same = [c for c in pixel_chunks(pixels, width) if (c % width == 0) == (chunk % width == 0)]
            chunk = choose(sch, True, same, chunk) if len(same) > 1 else chunk
        po, pi = sch.split(p, [None, chunk])
        sch.reorder(n, po, b, pi)
        sch.vectorize(pi)
        if loop_extent(sch, n) * (pixels // (chunk if isinstance(chunk, int) else pixel_chunk(pixels, width))) \
                >= 4 * threads:
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
    else:                                        # dense layer: (row, row block)
        i, b = loops
        sch.parallel(sch.fuse(i, b))
    return sch


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


def choose(sch, tunable: bool, options: list[int], default: int):
    """A design-space decision over `options` (MetaSchedule samples it), else `default`."""
    options = sorted(set(options))
    if tunable and len(options) > 1:
        return sch.sample_categorical(options, [1.0 / len(options)] * len(options))
    return default


def vectorize_in_rows(sch, loop, chunk: int, width: int) -> None:
    """Vectorise a flat pixel loop only where a vector stays inside one image row: vectors whose
    y = p // W, x = p % W indices wrap rows are miscompiled by TVM 0.27's vectorizer."""
    if chunk % width == 0:
        _, inner = sch.split(loop, [None, width])
        sch.vectorize(inner)
    elif width % chunk == 0:
        sch.vectorize(loop)


def _epilogue_tail(sch, producer):
    """The single block the epilogue after `producer` collapses to (see common.fold_epilogue)."""
    return fold_epilogue(sch, producer)


def _conv_block(sch):
    for name in ("conv2d_nchw", "group_conv2d_nchw", "depthwise_conv2d_nchw"):
        blk = block_named(sch, name)
        if blk is not None:
            return name, blk
    return None, None


def schedule_dense_conv(func, target, tunable):
    """Dense NCHW conv (groups 1): register tile of FF output channels x YU rows x XV pixels of
    a row (vectorised); tasks are (channel tile, row tile); the epilogue runs per tile."""
    from tvm import s_tir

    if "cpu" not in target.keys:
        return None
    sch = s_tir.Schedule(func)
    name, conv = _conv_block(sch)
    if name != "conv2d_nchw":
        return None
    pad = block_named(sch, "pad_temp")
    tail = _epilogue_tail(sch, conv)
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
        _stage_padded_input(sch, pad, conv, loop_extent(sch, rx), n_w)
    sch.decompose_reduction(conv, rc)
    if tail is not None:
        sch.reverse_compute_at(tail, xo)
        _vectorize_innermost(sch, tail, xv)
    return sch


def _stage_padded_input(sch, pad, conv, kw: int, out_w: int) -> None:
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


def schedule_dense_depthwise(func, target, tunable):
    """Dense depthwise conv: the DR kernel's plan with all taps: one task per (image, channel),
    a padded plane per channel, every row one wide vector accumulating its taps."""
    from tvm import s_tir

    if "cpu" not in target.keys:
        return None
    sch = s_tir.Schedule(func)
    name, conv = _conv_block(sch)
    if name not in ("group_conv2d_nchw", "depthwise_conv2d_nchw"):
        return None
    loops = sch.get_loops(conv)
    if len(loops) != 7 or loop_extent(sch, loops[4]) != 1:
        return None                                  # grouped conv with several channels per group
    pad = block_named(sch, "pad_temp")
    tail = _epilogue_tail(sch, conv)
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
        except Exception:  # noqa: BLE001 - no padding to decompose
            pass
        if stride > 1 and pad_w % stride == 0:        # even/odd columns apart: strided taps load whole vectors
            sch.transform_layout(pad, ("write", 0), lambda n, c, h, w: (n, c, h, w % stride, w // stride))
        sch.vectorize(sch.get_loops(pad)[-1])
    if tail is not None:
        sch.reverse_compute_at(tail, nc)
        sch.vectorize(sch.get_loops(tail)[-1])
    return sch


def schedule_dense_matmul(func, target, tunable):
    """x[M, K] @ W[K, F] (ONNX Gemm/MatMul after constant folding; F contiguous in W): output
    columns are vectorised, the K loop streams W row by row; tasks are column chunks."""
    from tvm import s_tir

    if "cpu" not in target.keys:
        return None
    sch = s_tir.Schedule(func)
    mm = block_named(sch, "matmul")
    if mm is None:
        return None
    loops = sch.get_loops(mm)
    if len(loops) != 3:
        return None
    i, j, k = loops
    tail = _epilogue_tail(sch, mm)
    n_j = loop_extent(sch, j)
    jv = largest_divisor(n_j, 16)
    ju = largest_divisor(n_j // jv, 4)
    jo, jm, ji = sch.split(j, [None, ju, jv])
    sch.reorder(i, jo, k, jm, ji)
    task = sch.fuse(i, jo)
    sch.parallel(task)
    sch.unroll(jm)
    sch.vectorize(ji)
    sch.decompose_reduction(mm, k)
    if tail is not None:
        sch.reverse_compute_at(tail, task)
        _vectorize_innermost(sch, tail, jv)
    return sch


def _vectorize_innermost(sch, block, width):
    loop = sch.get_loops(block)[-1]
    ext = loop_extent(sch, loop)
    if ext > width and ext % width == 0:
        loop = sch.split(loop, [None, width])[1]
    sch.vectorize(loop)


def schedule_fallback(func, target, tunable):
    """Parallel outer loops and a vectorised inner loop for whatever no other rule took."""
    from tvm import s_tir

    if "cpu" not in target.keys:
        return None
    sch = s_tir.Schedule(func)
    blocks = child_blocks(sch)
    if not blocks:
        return None
    # inline pure elementwise producers so one loop nest writes the output
    for blk in blocks[:-1]:
        try:
            sch.compute_inline(blk)
        except Exception:  # noqa: BLE001 - producers that cannot inline stay as they are
            pass
    for blk in child_blocks(sch):
        loops = sch.get_loops(blk)
        iters = sch.get(blk).iter_vars
        if not loops or len(loops) != len(iters) or any(int(iv.iter_type) != 0 for iv in iters):
            continue                              # reductions and odd nests: left to LLVM
        if math.prod(loop_extent(sch, lp) for lp in loops) < 1024:
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


def rules() -> list:
    from tvm.s_tir import dlight as dl

    return as_dlight_rules([
        ("cpu.dr_depthwise", schedule_dr_depthwise),
        ("cpu.group_dense", schedule_group_dense),
        ("cpu.dense_depthwise", schedule_dense_depthwise),
        ("cpu.dense_conv", schedule_dense_conv),
        ("cpu.dense_matmul", schedule_dense_matmul),
    ]) + guarded([dl.cpu.GEMV(), dl.cpu.Reduction()]) + as_dlight_rules([("cpu.fallback", schedule_fallback)])


register(TargetSpec(
    name="llvm",
    target={"kind": "llvm"},
    family="cpu",
    geometry=GEOMETRY,
    cost=COST,
    rules=rules,
    description="this machine's CPU (llvm; -mcpu of the host)",
    aliases=("cpu", "host"),
))
