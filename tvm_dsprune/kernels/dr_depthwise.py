"""The DR block-sparse depthwise conv (DEPrune's sub-GEMMs with only their kept columns).

    out[n, c, y, x] = sum over kept columns k of channel c:
                      col_val[k] * pad[n, c, y*sh + ky(k)*dh, x*sw + kx(k)*dw]

Channel c's columns are col_tap/col_val[chan_ptr[c, 0] : chan_ptr[c, 1]] (sparse/dr_format.py),
so the reduction length is the channel's kept count: pruning shrinks K.
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


@functools.lru_cache(maxsize=256)
def build(shape: DWConvShape, flat_columns: int, width_multiple: int = 1, dtype: str = "float32",
          local_accumulator: bool = False):
    """PrimFunc(data, chan_ptr, col_tap, col_val, out) for one layer.

    flat_columns: G * kmax of the layer's DRFormat. width_multiple: the intermediate's output
    width is rounded up to it (vector-friendly widths for CPU schedules); the padded plane is
    widened to match so every read stays in bounds.
    local_accumulator: the GPU form — a bounds-checked gather from the input and a block-local
    sum stored once (a complete block, which thread binding requires). Otherwise the CPU form:
    a `_pad` block builds the zero-padded input and the sum is kept in the intermediate itself
    (the CPU vectorizer widens that, but mishandles a one-element local).
    """
    LOCAL = local_accumulator
    I = T.int64
    N, C, H, W, KH, KW = shape.n, shape.c, shape.h, shape.w, shape.kh, shape.kw
    (SH, SW), (PT, PL, _, _), (DH, DW) = shape.strides, shape.padding, shape.dilation
    OH, OW = shape.out_hw
    OWP = -(-OW // width_multiple) * width_multiple
    HP = max(H + shape.padding[0] + shape.padding[2], (OH - 1) * SH + DH * (KH - 1) + 1)
    WP = max(W + shape.padding[1] + shape.padding[3], (OWP - 1) * SW + DW * (KW - 1) + 1)
    NNZ = max(1, flat_columns)
    ZERO = tirx.const(0, dtype)        # a literal: decompose_padding needs a constant pad value

    @T.prim_func(private=True, s_tir=True)
    def kernel(data: T.Buffer((I(N), I(C), I(H), I(W)), dtype),
               chan_ptr: T.Buffer((I(C), I(2)), "int32"),
               col_tap: T.Buffer((I(NNZ),), "int32"),
               col_val: T.Buffer((I(NNZ),), dtype),
               out: T.Buffer((I(N), I(C), I(OH), I(OW)), dtype)):
        T.func_attr({"tirx.noalias": True, "dsprune.op": OP})
        acc = T.sblock_alloc_buffer((I(N), I(C), I(OH), I(OWP)), dtype)
        if LOCAL:
            # GPU form: a bounds-checked gather straight from the input, one sum per thread
            for n, c, y, x in T.grid(I(N), I(C), I(OH), I(OWP)):
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
        else:
            # CPU form: a zero-padded plane, and the sum kept in the intermediate (vectorised)
            pad = T.sblock_alloc_buffer((I(N), I(C), I(HP), I(WP)), dtype)
            for n, c, h, w in T.grid(I(N), I(C), I(HP), I(WP)):
                with T.sblock("dr_depthwise_pad"):
                    vn, vc, vh, vw = T.axis.remap("SSSS", [n, c, h, w])
                    pad[vn, vc, vh, vw] = T.if_then_else(
                        I(PT) <= vh and vh < I(H + PT) and I(PL) <= vw and vw < I(W + PL),
                        data[vn, vc, vh - I(PT), vw - I(PL)], ZERO)
            for n, c, y, x in T.grid(I(N), I(C), I(OH), I(OWP)):
                with T.sblock("dr_depthwise"):
                    vn, vc, vy, vx = T.axis.remap("SSSS", [n, c, y, x])
                    T.reads(chan_ptr[vc, I(0):I(2)], col_tap[I(0):I(NNZ)], col_val[I(0):I(NNZ)],
                            pad[vn, vc, I(0):I(HP), I(0):I(WP)])
                    T.writes(acc[vn, vc, vy, vx])
                    T.sblock_attr({"dsprune.op": OP})
                    acc[vn, vc, vy, vx] = ZERO
                    for k in range(chan_ptr[vc, 0], chan_ptr[vc, 1]):
                        acc[vn, vc, vy, vx] = acc[vn, vc, vy, vx] + col_val[k] * pad[
                            vn, vc, vy * I(SH) + T.Cast("int64", col_tap[k] // KW) * I(DH),
                            vx * I(SW) + T.Cast("int64", col_tap[k] % KW) * I(DW)]
        for n, c, y, x in T.grid(I(N), I(C), I(OH), I(OW)):
            with T.sblock("dr_depthwise_out"):
                vn, vc, vy, vx = T.axis.remap("SSSS", [n, c, y, x])
                out[vn, vc, vy, vx] = acc[vn, vc, vy, vx]

    return kernel

