"""A depthwise conv and the group-sparse 1x1 conv after it, in one CPU kernel.

    mid[c, y, x]  = act(bias[c] + DR depthwise conv of channel c)        (kernels/dr_depthwise.py)
    out[f, y, x]  = sum over groups j of row block f // gr:
                    sum_cc group_val[j, f % gr, cc] * mid[group_col[j] + cc, y, x]
                                                                          (kernels/group_dense.py)

Run apart, the depthwise conv stores its whole output and the 1x1 conv loads it back: in a
model each of its stores lands on a line another kernel, on the other core, wrote last, and a
depthwise conv has too few multiply-adds per line to hide that (measured: 2-3x its time alone).
Here a task takes a band of `band` output rows: for each channel it builds the band's
zero-padded input rows (the DR kernel's plane layout, only the rows the band reads), computes
the band's depthwise rows with the sums in registers and the epilogue applied, into a buffer of
the task's own (C x band x row: tens of KB, cache-resident); then the 1x1 conv runs over that
buffer, weight-stationary as in group_dense.build_cpu, and writes the band of its output. The
depthwise output never goes to memory. Bands overlap by the kernel's halo rows, which are read
twice (input rows are cheap next to the stores saved).
"""
from __future__ import annotations

import functools

from tvm import tirx
from tvm.script import tirx as T

from .dr_depthwise import DWConvShape, _copy_width, cpu_tile, plane_layout

OP = "dw_pointwise"
ACTIVATIONS = ("none", "relu", "relu6")


def band_rows(out_height: int, out_width_padded: int, lanes: int, max_vectors: int = 4) -> int:
    """Output rows per band: the most (a divisor of the height, at most 4) whose band, as pixels
    of the 1x1 conv, stays within `max_vectors` vectors, so the 1x1 conv's sums stay in
    registers."""
    vectors = out_width_padded // lanes
    fits = [r for r in range(1, 5) if out_height % r == 0 and r * vectors <= max_vectors]
    return max(fits) if fits else 1


@functools.lru_cache(maxsize=256)
def build_cpu(dw: DWConvShape, flat_columns: int, act: str, f: int, gr: int, gc: int, num_groups: int,
              num_blocks: int, band: int, lanes: int = 8, dtype: str = "float32"):
    """PrimFunc(data[N, C, H, W], chan_ptr[C, 2], col_off[NNZ], col_val[NNZ], dw_bias[C],
    block_ptr[B, 2], group_col[NG], group_val[NG, gr, gc], out[N, F, OH, OW]).

    chan_ptr / col_off / col_val: the DR format of the depthwise conv with col_off from
    dr_depthwise.tap_offsets(dw, tile=lanes); dw_bias and `act` ("none", "relu", "relu6"): its
    epilogue; block_ptr / group_col / group_val: the 1x1 conv's uncompacted group format
    (group_format.cover(compact=False)) over the C channels. `band` output rows per task (a
    divisor of OH)."""
    if act not in ACTIVATIONS:
        raise ValueError(f"act must be one of {ACTIVATIONS}")
    I = T.int64
    N, C, H, W = dw.n, dw.c, dw.h, dw.w
    (SH, SW), (PT, _, _, _), (DH, _) = dw.strides, dw.padding, dw.dilation
    OH, OW = dw.out_hw
    if OH % band:
        raise ValueError(f"band {band} does not divide the output height {OH}")
    DT = cpu_tile(OW, lanes)                    # depthwise pixels per register tile
    lay = plane_layout(dw, DT)
    RS, PW, OWP, M = lay.row_stride, lay.phase_width, lay.out_width, lay.margin
    R = band
    BR = (R - 1) * SH + (dw.kh - 1) * DH + 1          # padded input rows a band reads
    TP = R * OWP                                      # the 1x1 conv's pixels per band
    # its register tile: the band, or the widest of up to 4 vectors inside one output row
    PTL = TP if TP <= 4 * lanes else max(t for t in (lanes, 2 * lanes, 4 * lanes) if OWP % t == 0)
    NNZ, NG, B = max(1, flat_columns), max(1, num_groups), num_blocks
    chains = gr * (PTL // lanes)
    S = max(1, min(gc, 8 // max(1, chains)))          # partial sums: columns cc go to cc % S
    L1 = _copy_width(W, lanes)                  # vector width of a row copy (stride 1)
    L2 = _copy_width(W // 2, lanes)             # half the width of a stride-2 row split
    ZERO = tirx.const(0, dtype)
    SIX = tirx.const(6, dtype)

    def activate(x):
        if act == "relu":
            return T.max(x, ZERO)
        if act == "relu6":
            return T.min(T.max(x, ZERO), SIX)
        return x

    @T.prim_func(private=True, s_tir=True)
    def kernel(data: T.Buffer((I(N), I(C), I(H), I(W)), dtype),
               chan_ptr: T.Buffer((I(C), I(2)), "int32"),
               col_off: T.Buffer((I(NNZ),), "int32"),
               col_val: T.Buffer((I(NNZ),), dtype),
               dw_bias: T.Buffer((I(C),), dtype),
               block_ptr: T.Buffer((I(B), I(2)), "int32"),
               group_col: T.Buffer((I(NG),), "int32"),
               group_val: T.Buffer((I(NG), I(gr), I(gc)), dtype),
               out: T.Buffer((I(N), I(f), I(OH), I(OW)), dtype)):
        T.func_attr({"tirx.noalias": True, "dsprune.op": OP})
        acc = T.sblock_alloc_buffer((I(N), I(B * gr), I(OH), I(OWP)), dtype)
        for n_, yb_ in T.grid(I(N), I(OH // R)):
            with T.sblock("dw_pointwise"):
                vn, vb = T.axis.remap("SS", [n_, yb_])
                T.reads(data[vn, I(0):I(C), I(0):I(H), I(0):I(W)], chan_ptr[I(0):I(C), I(0):I(2)],
                        col_off[I(0):I(NNZ)], col_val[I(0):I(NNZ)], dw_bias[I(0):I(C)],
                        block_ptr[I(0):I(B), I(0):I(2)], group_col[I(0):I(NG)],
                        group_val[I(0):I(NG), I(0):I(gr), I(0):I(gc)])
                T.writes(acc[vn, I(0):I(B * gr), vb * I(R):vb * I(R) + I(R), I(0):I(OWP)])
                T.sblock_attr({"dsprune.op": OP})
                rows = T.sblock_alloc_buffer((I(BR * RS),), dtype)          # one channel's band rows
                mid = T.sblock_alloc_buffer((I(C), I(TP)), dtype)           # the band's DW output
                sv = T.sblock_alloc_buffer((R, DT), dtype, scope="local")
                loc = T.sblock_alloc_buffer((2 * L2,), dtype)                 # a stride-2 row split
                for c in range(I(C)):
                    # the band's padded input rows of channel c (zero rows and margins included)
                    for i in range(I(BR)):
                        if I(PT) <= vb * I(R * SH) + i and vb * I(R * SH) + i < I(H + PT):
                            for t in T.unroll(I(SW)):
                                for q in range(I(M)):
                                    rows[i * I(RS) + t * I(PW) + q] = ZERO
                            for t in T.unroll(I(SW)):
                                for q in range(I(M) + (I(W) - t + I(SW - 1)) // I(SW), I(PW)):
                                    rows[i * I(RS) + t * I(PW) + q] = ZERO
                            if SW == 1 and W >= 4:
                                # whole vectors, the last one overlapping the one before
                                for qo in range(I(W // L1)):
                                    for v in T.vectorized(I(L1)):
                                        rows[i * I(RS) + I(M) + qo * I(L1) + v] = \
                                            data[vn, c, vb * I(R * SH) + i - I(PT), qo * I(L1) + v]
                                if W % L1 != 0:
                                    for v in T.vectorized(I(L1)):
                                        rows[i * I(RS) + I(M + W - L1) + v] = \
                                            data[vn, c, vb * I(R * SH) + i - I(PT), I(W - L1) + v]
                            elif SW == 2 and W >= 8:
                                # two vectors of input split into their even and odd columns
                                for qo in range(I(W // (2 * L2))):
                                    for v in T.vectorized(I(2 * L2)):
                                        loc[v] = data[vn, c, vb * I(R * SH) + i - I(PT), qo * I(2 * L2) + v]
                                    for t in T.unroll(I(2)):
                                        for v in T.vectorized(I(L2)):
                                            rows[i * I(RS) + t * I(PW) + I(M) + qo * I(L2) + v] = loc[v * I(2) + t]
                                if W % (2 * L2) != 0:
                                    for v in T.vectorized(I(2 * L2)):
                                        loc[v] = data[vn, c, vb * I(R * SH) + i - I(PT), I(W - 2 * L2) + v]
                                    for t in T.unroll(I(2)):
                                        for v in T.vectorized(I(L2)):
                                            rows[i * I(RS) + (I(W - 2 * L2) + t) % I(2) * I(PW) + I(M)
                                                 + (I(W - 2 * L2) + t) // I(2) + v] = loc[v * I(2) + t]
                            else:
                                for w_ in range(I(W)):
                                    rows[i * I(RS) + w_ % I(SW) * I(PW) + I(M) + w_ // I(SW)] = \
                                        data[vn, c, vb * I(R * SH) + i - I(PT), w_]
                        else:
                            for q in range(I(RS)):
                                rows[i * I(RS) + q] = ZERO
                    for xo in range(I(OWP // DT)):
                        for r in T.unroll(I(R)):
                            for v in T.vectorized(I(DT)):
                                sv[r, v] = ZERO
                        for k in range(chan_ptr[c, 0], chan_ptr[c, 1]):
                            for r in T.unroll(I(R)):
                                for v in T.vectorized(I(DT)):
                                    sv[r, v] = sv[r, v] + col_val[k] * rows[
                                        r * I(SH * RS) + T.Cast("int64", col_off[k]) + xo * I(DT) + v]
                        for r in T.unroll(I(R)):
                            for v in T.vectorized(I(DT)):
                                mid[c, r * I(OWP) + xo * I(DT) + v] = activate(sv[r, v] + dw_bias[c])
                for b, po in T.grid(I(B), I(TP // PTL)):
                    s = T.sblock_alloc_buffer((S, gr, PTL), dtype, scope="local")
                    for si in T.unroll(I(S)):
                        for r in T.unroll(I(gr)):
                            for v in T.vectorized(I(PTL)):
                                s[si, r, v] = ZERO
                    for j in range(block_ptr[b, 0], block_ptr[b, 1]):
                        for cc in T.unroll(I(gc)):
                            for r in T.unroll(I(gr)):
                                for v in T.vectorized(I(PTL)):
                                    s[cc % I(S), r, v] = s[cc % I(S), r, v] + group_val[j, r, cc] * mid[
                                        T.Cast("int64", group_col[j]) + cc, po * I(PTL) + v]
                    for r in T.unroll(I(gr)):
                        for si in T.unroll(I(1), I(S)):
                            for v in T.vectorized(I(PTL)):
                                s[I(0), r, v] = s[I(0), r, v] + s[si, r, v]
                        # vectors inside one output row (TVM 0.27 miscompiles vectors whose
                        # row and column indices wrap rows)
                        for y in T.unroll(I(PTL // OWP if PTL >= OWP else 1)):
                            for v in T.vectorized(I(min(PTL, OWP))):
                                acc[vn, b * I(gr) + r, vb * I(R) + (po * I(PTL)) // I(OWP) + y,
                                    (po * I(PTL)) % I(OWP) + v] = s[I(0), r, y * I(OWP) + v]
        for n_, f_, y_, x_ in T.grid(I(N), I(f), I(OH), I(OW)):
            with T.sblock("dw_pointwise_out"):
                vn, vf, vy, vx = T.axis.remap("SSSS", [n_, f_, y_, x_])
                out[vn, vf, vy, vx] = acc[vn, vf, vy, vx]

    return kernel
