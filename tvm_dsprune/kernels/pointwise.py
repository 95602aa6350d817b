"""A dense 1x1 conv as the GEMM it is, over the flat pixels of NCHW.

    acc[n, f, p] = sum_k weight[k, f] * x[n, k, p]          (`pointwise`, p = y*W + x)
    out[n, f, y, x] = acc[n, f, y*W + x]                      (`pointwise_out`)

The legalized conv2d iterates (y, x) apart, and a schedule that fuses them still reasons about
buffer regions in (y, x): a pixel tile that crosses rows becomes a bounding box of whole rows.
Here the main block and the output block both iterate the flat pixel index, so a tile of
pixels is a tile of the buffers too, and the output block (which carries the fused epilogue)
can be placed at the tile it reads. The weight is stored transposed, [K, F]: the channels of a
register tile are contiguous, whether the schedule broadcasts them (pixels in the vector
lanes) or loads them as vectors (channels in the lanes).
"""
from __future__ import annotations

import functools

from tvm.script import tirx as T

OP = "pointwise"


@functools.lru_cache(maxsize=256)
def build(n: int, k: int, f: int, h: int, w: int, dtype: str = "float32", channels_in: int = 0):
    """PrimFunc(data[N,K,H,W], weight[K,F], out[N,F,H,W]). With `channels_in` (> 0): the layer
    reads K of the input's `channels_in` channels, PrimFunc(data[N,channels_in,H,W], weight[K,F],
    channels[K] int32, out): the kept input channels of a compact layer, read in place rather
    than gathered into a copy first."""
    if channels_in:
        return _gathered(n, k, f, h, w, dtype, channels_in)
    I = T.int64
    P = h * w
    W = w
    ZERO = T.float32(0) if dtype == "float32" else T.Cast(dtype, 0)

    @T.prim_func(private=True, s_tir=True)
    def kernel(data: T.Buffer((I(n), I(k), I(h), I(w)), dtype),
               weight: T.Buffer((I(k), I(f)), dtype),
               out: T.Buffer((I(n), I(f), I(h), I(w)), dtype)):
        T.func_attr({"tirx.noalias": True, "dsprune.op": OP})
        flat = T.decl_buffer((I(n), I(k), I(P)), dtype, data=data.data)
        acc = T.sblock_alloc_buffer((I(n), I(f), I(P)), dtype)
        for vn_, f_, p_, k_ in T.grid(I(n), I(f), I(P), I(k)):
            with T.sblock("pointwise"):
                vn, vf, vp, vk = T.axis.remap("SSSR", [vn_, f_, p_, k_])
                with T.init():
                    acc[vn, vf, vp] = ZERO
                acc[vn, vf, vp] = acc[vn, vf, vp] + weight[vk, vf] * flat[vn, vk, vp]
        for vn_, f_, p_ in T.grid(I(n), I(f), I(P)):
            with T.sblock("pointwise_out"):
                vn, vf, vp = T.axis.remap("SSS", [vn_, f_, p_])
                out[vn, vf, vp // I(W), vp % I(W)] = acc[vn, vf, vp]

    return kernel


def _gathered(n: int, k: int, f: int, h: int, w: int, dtype: str, channels_in: int):
    """build's body with the input read through `channels` (its own signature, so its own
    TVMScript: the dense kernel keeps no index load in its inner loop)."""
    I = T.int64
    P = h * w
    W = w
    C = channels_in
    ZERO = T.float32(0) if dtype == "float32" else T.Cast(dtype, 0)

    @T.prim_func(private=True, s_tir=True)
    def kernel(data: T.Buffer((I(n), I(C), I(h), I(w)), dtype),
               weight: T.Buffer((I(k), I(f)), dtype),
               channels: T.Buffer((I(k),), "int32"),
               out: T.Buffer((I(n), I(f), I(h), I(w)), dtype)):
        T.func_attr({"tirx.noalias": True, "dsprune.op": OP})
        flat = T.decl_buffer((I(n), I(C), I(P)), dtype, data=data.data)
        acc = T.sblock_alloc_buffer((I(n), I(f), I(P)), dtype)
        for vn_, f_, p_, k_ in T.grid(I(n), I(f), I(P), I(k)):
            with T.sblock("pointwise"):
                vn, vf, vp, vk = T.axis.remap("SSSR", [vn_, f_, p_, k_])
                with T.init():
                    acc[vn, vf, vp] = ZERO
                acc[vn, vf, vp] = acc[vn, vf, vp] + weight[vk, vf] * flat[vn, T.Cast("int64", channels[vk]), vp]
        for vn_, f_, p_ in T.grid(I(n), I(f), I(P)):
            with T.sblock("pointwise_out"):
                vn, vf, vp = T.axis.remap("SSS", [vn_, f_, p_])
                out[vn, vf, vp // I(W), vp % I(W)] = acc[vn, vf, vp]

    return kernel
