"""The DR block-sparse depthwise conv (DEPrune's sub-GEMMs with only their kept columns).

    out[n, c, y, x] = sum over kept columns k of channel c:
                      col_val[k] * pad[n, c, y*sh + ky(k)*dh, x*sw + kx(k)*dw]

Channel c's columns are col_tap/col_val[chan_ptr[c, 0] : chan_ptr[c, 1]] (sparse/dr_format.py),
so the reduction length is the channel's kept count: pruning shrinks K. Two forms: the GPU form
(build_gpu: one block instance per output pixel, a bounds-checked gather) and the CPU form
(build_cpu: a zero-padded plane per channel, row tiles of whole vectors with their sums in
registers, each kept column read at a precomputed offset).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

from tvm import tirx
from tvm.script import tirx as T

OP = "dr_depthwise"


@dataclass(frozen=True)
class DWConvShape:
    n: int
    c: int
    h: int
    w: int
    kh: int
    kw: int
    strides: tuple[int, int]
    padding: tuple[int, int, int, int]       # top, left, bottom, right
    dilation: tuple[int, int] = (1, 1)

    @property
    def out_hw(self) -> tuple[int, int]:
        (sh, sw), (pt, pl, pb, pr), (dh, dw) = self.strides, self.padding, self.dilation
        return ((self.h + pt + pb - dh * (self.kh - 1) - 1) // sh + 1,
                (self.w + pl + pr - dw * (self.kw - 1) - 1) // sw + 1)

    @property
    def out_pixels(self) -> int:
        oh, ow = self.out_hw
        return oh * ow


@functools.lru_cache(maxsize=256)
def build_gpu(shape: DWConvShape, flat_columns: int, dtype: str = "float32"):
    """The GPU form: PrimFunc(data, chan_ptr, col_tap, col_val, out). One block instance per
    output pixel: a bounds-checked gather straight from the input and a block-local sum stored
    once (a complete block, which thread binding requires). flat_columns: G * kmax of the
    layer's DRFormat."""
    I = T.int64
    N, C, H, W, KH, KW = shape.n, shape.c, shape.h, shape.w, shape.kh, shape.kw
    (SH, SW), (PT, PL, _, _), (DH, DW) = shape.strides, shape.padding, shape.dilation
    OH, OW = shape.out_hw
    NNZ = max(1, flat_columns)
    ZERO = tirx.const(0, dtype)

    @T.prim_func(private=True, s_tir=True)
    def kernel(data: T.Buffer((I(N), I(C), I(H), I(W)), dtype),
               chan_ptr: T.Buffer((I(C), I(2)), "int32"),
               col_tap: T.Buffer((I(NNZ),), "int32"),
               col_val: T.Buffer((I(NNZ),), dtype),
               out: T.Buffer((I(N), I(C), I(OH), I(OW)), dtype)):
        T.func_attr({"tirx.noalias": True, "dsprune.op": OP})
        acc = T.sblock_alloc_buffer((I(N), I(C), I(OH), I(OW)), dtype)
        for n, c, y, x in T.grid(I(N), I(C), I(OH), I(OW)):
            with T.sblock("dr_depthwise"):
                vn, vc, vy, vx = T.axis.remap("SSSS", [n, c, y, x])
                T.reads(chan_ptr[vc, I(0):I(2)], col_tap[I(0):I(NNZ)], col_val[I(0):I(NNZ)],
                        data[vn, vc, I(0):I(H), I(0):I(W)])
                T.writes(acc[vn, vc, vy, vx])
                T.sblock_attr({"dsprune.op": OP})
                s = T.sblock_alloc_buffer((1,), dtype, scope="local")
                s[0] = ZERO
                for k in range(chan_ptr[vc, 0], chan_ptr[vc, 1]):
                    s[0] = s[0] + col_val[k] * T.if_then_else(
                        I(PT) <= vy * I(SH) + T.Cast("int64", col_tap[k] // KW) * I(DH)
                        and vy * I(SH) + T.Cast("int64", col_tap[k] // KW) * I(DH) < I(H + PT)
                        and I(PL) <= vx * I(SW) + T.Cast("int64", col_tap[k] % KW) * I(DW)
                        and vx * I(SW) + T.Cast("int64", col_tap[k] % KW) * I(DW) < I(W + PL),
                        data[vn, vc, vy * I(SH) + T.Cast("int64", col_tap[k] // KW) * I(DH) - I(PT),
                             vx * I(SW) + T.Cast("int64", col_tap[k] % KW) * I(DW) - I(PL)], ZERO)
                acc[vn, vc, vy, vx] = s[0]
        for n, c, y, x in T.grid(I(N), I(C), I(OH), I(OW)):
            with T.sblock("dr_depthwise_out"):
                vn, vc, vy, vx = T.axis.remap("SSSS", [n, c, y, x])
                out[vn, vc, vy, vx] = acc[vn, vc, vy, vx]

    return kernel


@dataclass(frozen=True)
class PlaneLayout:
    """The zero-padded input plane of one channel in the CPU form, flat. Each padded row holds
    `stride_w` phases of `phase_width` elements: input column w goes to phase w % sw, at
    `margin` + w // sw (the margin and the rest of each phase are the zero padding). The taps of
    a strided conv then read contiguous elements along an output row."""
    rows: int
    stride_w: int
    phase_width: int
    margin: int
    out_width: int              # output row width computed (a multiple of the tile)

    @property
    def row_stride(self) -> int:
        return self.stride_w * self.phase_width

    @property
    def size(self) -> int:
        return self.rows * self.row_stride


def plane_layout(shape: DWConvShape, tile: int) -> PlaneLayout:
    (sh, sw), (pt, pl, pb, pr), (dh, dw) = shape.strides, shape.padding, shape.dilation
    oh, ow = shape.out_hw
    owp = -(-ow // tile) * tile
    rows = max(shape.h + pt + pb, (oh - 1) * sh + dh * (shape.kh - 1) + 1)
    margin = -(-pl // sw)
    last_read = margin + (owp - 1) + ((shape.kw - 1) * dw - pl) // sw
    return PlaneLayout(rows, sw, max(margin + -(-shape.w // sw), last_read + 1), margin, owp)


def tap_offsets(shape: DWConvShape, tile: int, col_tap):
    """Each kept column's offset in the CPU form's padded plane, for output pixel (0, 0):
    output pixel (y, x) reads the plane at y * sh * row_stride + offset + x."""
    import numpy as np

    lay = plane_layout(shape, tile)
    (dh, dw), sw, pl = shape.dilation, shape.strides[1], shape.padding[1]
    ky, kx = np.asarray(col_tap) // shape.kw, np.asarray(col_tap) % shape.kw
    col = kx * dw - pl                                    # input column of output column 0
    return (ky * dh * lay.row_stride + (col % sw) * lay.phase_width + lay.margin + col // sw).astype("int32")


def _copy_width(n: int, lanes: int) -> int:
    """The widest vector, `lanes` at most and a power of two, that fits in n elements (1 if none)."""
    width = 1
    while width * 2 <= min(n, lanes):
        width *= 2
    return width


@functools.lru_cache(maxsize=256)
def build_cpu(shape: DWConvShape, flat_columns: int, tile: int, rows: int = 1, lanes: int = 8,
              dtype: str = "float32"):
    """The CPU form: PrimFunc(data, chan_ptr, col_off, col_val, out), col_off from tap_offsets.

    The channel's zero-padded plane (`_pad`, laid out by plane_layout) is built row by row in a
    scratch buffer: vector copies of the input row, and for stride 2 two vectors of input split
    into their even and odd columns by shuffles (TVM's own strided vector loads go lane by
    lane); a block instance computes `rows` output rows x `tile` pixels (whole vectors; the
    output width is rounded up to the tile and the extra columns dropped) in local sums,
    walking the channel's kept columns: one vector FMA per column per vector, the weight
    broadcast, the input read at the column's offset (no index arithmetic per tap)."""
    I = T.int64
    N, C, H, W = shape.n, shape.c, shape.h, shape.w
    (SH, SW), (PT, PL, _, _) = shape.strides, shape.padding
    OH, OW = shape.out_hw
    lay = plane_layout(shape, tile)
    RS, PW, SIZE, OWP, M = lay.row_stride, lay.phase_width, lay.size, lay.out_width, lay.margin
    R = rows if OH % rows == 0 else 1
    NNZ = max(1, flat_columns)
    TP = tile
    ZERO = tirx.const(0, dtype)
    L = lanes
    L1 = _copy_width(W, L)                  # vector width of the plane's row copy (stride 1)
    L2 = _copy_width(W // 2, L)             # half the width of a stride-2 row split
    # The sums of a row tile of one vector a row: "global" scope (under 1 KB), so TVM gives them a
    # stack slot in the channel's task instead of a runtime workspace allocation per channel
    # (576 channels at 14x14: 32 -> 16 us). Rows of several vectors stay "local": as a stack slot
    # LLVM splits them and shuffles on every tap (28- and 56-pixel rows ran 1.5-2x slower).
    SUMS = "global" if TP <= L else "local"

    @T.prim_func(private=True, s_tir=True)
    def kernel(data: T.Buffer((I(N), I(C), I(H), I(W)), dtype),
               chan_ptr: T.Buffer((I(C), I(2)), "int32"),
               col_off: T.Buffer((I(NNZ),), "int32"),
               col_val: T.Buffer((I(NNZ),), dtype),
               out: T.Buffer((I(N), I(C), I(OH), I(OW)), dtype)):
        T.func_attr({"tirx.noalias": True, "dsprune.op": OP})
        pad = T.sblock_alloc_buffer((I(N), I(C), I(SIZE)), dtype)
        acc = T.sblock_alloc_buffer((I(N), I(C), I(OH), I(OWP)), dtype)
        for n, c, h in T.grid(I(N), I(C), I(lay.rows)):
            # one padded row per block instance, whole (margins, phases, zero rows): the only
            # writer of its row, with plain vector loops inside
            with T.sblock("dr_depthwise_pad"):
                vn, vc, vh = T.axis.remap("SSS", [n, c, h])
                T.reads(data[vn, vc, I(0):I(H), I(0):I(W)])
                T.writes(pad[vn, vc, vh * I(RS):vh * I(RS) + I(RS)])
                T.sblock_attr({"dsprune.op": OP})
                if I(PT) <= vh and vh < I(H + PT):
                    for t in T.unroll(I(SW)):
                        for i in range(I(M)):
                            pad[vn, vc, vh * I(RS) + t * I(PW) + i] = ZERO
                    for t in T.unroll(I(SW)):
                        for i in range(I(M) + (I(W) - t + I(SW - 1)) // I(SW), I(PW)):
                            pad[vn, vc, vh * I(RS) + t * I(PW) + i] = ZERO
                    if SW == 1 and W >= 4:
                        # whole vectors of the row, the last one overlapping the one before where
                        # the row is not a multiple of the vector (no scalar tail)
                        for qo in range(I(W // L1)):
                            for v in T.vectorized(I(L1)):
                                pad[vn, vc, vh * I(RS) + I(M) + qo * I(L1) + v] = data[vn, vc, vh - I(PT), qo * I(L1) + v]
                        if W % L1 != 0:
                            for v in T.vectorized(I(L1)):
                                pad[vn, vc, vh * I(RS) + I(M + W - L1) + v] = data[vn, vc, vh - I(PT), I(W - L1) + v]
                    elif SW == 2 and W >= 8:
                        # two vectors of input split into their even and odd columns (shuffles),
                        # the last pair overlapping where the row is not a multiple of it
                        loc = T.sblock_alloc_buffer((2 * L2,), dtype)      # "global": a stack slot
                        for qo in range(I(W // (2 * L2))):
                            for v in T.vectorized(I(2 * L2)):
                                loc[v] = data[vn, vc, vh - I(PT), qo * I(2 * L2) + v]
                            for t in T.unroll(I(2)):
                                for v in T.vectorized(I(L2)):
                                    pad[vn, vc, vh * I(RS) + t * I(PW) + I(M) + qo * I(L2) + v] = loc[v * I(2) + t]
                        if W % (2 * L2) != 0:
                            for v in T.vectorized(I(2 * L2)):
                                loc[v] = data[vn, vc, vh - I(PT), I(W - 2 * L2) + v]
                            for t in T.unroll(I(2)):
                                for v in T.vectorized(I(L2)):
                                    pad[vn, vc, vh * I(RS) + (I(W - 2 * L2) + t) % I(2) * I(PW) + I(M)
                                        + (I(W - 2 * L2) + t) // I(2) + v] = loc[v * I(2) + t]
                    else:
                        for w_ in range(I(W)):
                            pad[vn, vc, vh * I(RS) + w_ % I(SW) * I(PW) + I(M) + w_ // I(SW)] = data[vn, vc, vh - I(PT), w_]
                else:
                    for i in range(I(RS)):
                        pad[vn, vc, vh * I(RS) + i] = ZERO
        for n, c, yo, xo in T.grid(I(N), I(C), I(OH // R), I(OWP // TP)):
            with T.sblock("dr_depthwise"):
                vn, vc, vy, vx = T.axis.remap("SSSS", [n, c, yo, xo])
                T.reads(chan_ptr[vc, I(0):I(2)], col_off[I(0):I(NNZ)], col_val[I(0):I(NNZ)],
                        pad[vn, vc, I(0):I(SIZE)])
                T.writes(acc[vn, vc, vy * I(R):vy * I(R) + I(R), vx * I(TP):vx * I(TP) + I(TP)])
                T.sblock_attr({"dsprune.op": OP})
                sv = T.sblock_alloc_buffer((R, TP), dtype, scope=SUMS)
                for r in T.unroll(I(R)):
                    for v in T.vectorized(I(TP)):
                        sv[r, v] = ZERO
                for k in range(chan_ptr[vc, 0], chan_ptr[vc, 1]):
                    for r in T.unroll(I(R)):
                        for v in T.vectorized(I(TP)):
                            sv[r, v] = sv[r, v] + col_val[k] * pad[
                                vn, vc, (vy * I(R) + r) * I(SH * RS) + T.Cast("int64", col_off[k]) + vx * I(TP) + v]
                for r in T.unroll(I(R)):
                    for v in T.vectorized(I(TP)):
                        acc[vn, vc, vy * I(R) + r, vx * I(TP) + v] = sv[r, v]
        for n, c, y, x in T.grid(I(N), I(C), I(OH), I(OW)):
            with T.sblock("dr_depthwise_out"):
                vn, vc, vy, vx = T.axis.remap("SSSS", [n, c, y, x])
                out[vn, vc, vy, vx] = acc[vn, vc, vy, vx]

    return kernel


def cpu_tile(out_width: int, lanes: int) -> int:
    """Pixels of an output row per block instance in the CPU form: the most vectors (4, 2 or 1:
    powers of two, which LLVM keeps in registers) whose rounding of the row costs at most 15%
    over rounding it to whole vectors."""
    whole = -(-out_width // lanes) * lanes
    return next(t for t in (4 * lanes, 2 * lanes, lanes) if -(-out_width // t) * t <= 1.15 * whole)


def cpu_rows(out_height: int, vectors: int, chains: int = 8) -> int:
    """Output rows per block instance in the CPU form: the most (a divisor of the height) that
    keep rows x vectors sums within `chains` registers. More independent sums hide the FMA
    latency, and fewer, larger blocks spread each block's fixed cost on small images."""
    return max(r for r in range(1, max(1, chains // vectors) + 1) if out_height % r == 0)
