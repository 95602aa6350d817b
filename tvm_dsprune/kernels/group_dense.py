"""The group-sparse dense operator: 1x1 convs (NCHW) and dense layers with a compressed weight.

    acc[n, q, p]  = sum over groups j of compacted row q's block b = q // gr:
                    sum_cc group_val[j, q % gr, cc] * x[n, group_col[j] + cc, p]
    out[n, f, p]  = acc[n, row_pos[f], p]         (`_gather`, then `_out`)

Block b's groups are group_col/group_val[block_ptr[b, 0] : block_ptr[b, 1]]
(sparse/group_format.py). Rows that filter pruning emptied were dropped from the compacted
weight: they are not computed, and gather a zero row (then the fused bias).
One block instance computes all gr rows of a row block, so each input row it loads serves gr
outputs.
"""
from __future__ import annotations

import functools

from tvm import tirx
from tvm.script import tirx as T

OP = "group_dense"


def build_conv1x1(n: int, k: int, f: int, h: int, w: int, gr: int, gc: int, num_groups: int,
                  num_blocks: int, dtype: str = "float32", local_accumulator: bool = False,
                  vector_lanes: int = 1):
    """PrimFunc(data[N,K,H,W], row_pos[F], block_ptr[B,2], group_col[NG], group_val[NG,gr,gc],
    out[N,F,H,W]) with B = num_blocks row blocks of the compacted weight."""
    return build(n, k, f, (h, w), gr, gc, num_groups, num_blocks, dtype, local_accumulator, vector_lanes)


def build_matmul(m: int, k: int, f: int, gr: int, gc: int, num_groups: int, num_blocks: int,
                 dtype: str = "float32", local_accumulator: bool = False):
    """PrimFunc(data[M,K], row_pos[F], block_ptr, group_col, group_val, out[M,F]): x @ W.T, the
    1x1 conv of M images of one pixel."""
    return build(m, k, f, (), gr, gc, num_groups, num_blocks, dtype, local_accumulator, 1)


@functools.lru_cache(maxsize=256)
def build(n: int, k: int, f: int, spatial: tuple[int, ...], gr: int, gc: int, num_groups: int,
          num_blocks: int, dtype: str = "float32", local_accumulator: bool = False, vector_lanes: int = 1):
    """The one body of both forms: data[N, K, *spatial] -> out[N, F, *spatial], spatial = (H, W)
    for a 1x1 conv and () for a dense layer.

    The pixel dimension p = y*W + x is walked flat (contiguous in NCHW) in the main block, which
    reads the input through a flat [N, K, P] view; the output block writes the output's own
    shape (schedules vectorise it only within an image row). local_accumulator: as in
    dr_depthwise. vector_lanes (GPU form, P divisible by it): every block instance computes that
    many consecutive pixels in a vectorised inner loop with a [gr, lanes] local sum — float4
    loads of the input rows and float4 sums on Mali (a vectorised loop over a block with a
    one-element local sum would give every lane the same sum)."""
    I = T.int64
    LOCAL = local_accumulator
    P = 1
    for d in spatial:
        P *= d
    V = vector_lanes if local_accumulator and P % vector_lanes == 0 else 1
    B = num_blocks
    NG = max(1, num_groups)
    CONV = len(spatial) == 2
    W = spatial[-1] if CONV else 1
    in_shape = tuple(I(d) for d in (n, k, *spatial))
    out_shape = tuple(I(d) for d in (n, f, *spatial))

    @T.prim_func(private=True, s_tir=True)
    def kernel(data: T.Buffer(in_shape, dtype),
               row_pos: T.Buffer((I(f),), "int32"),
               block_ptr: T.Buffer((I(B), I(2)), "int32"),
               group_col: T.Buffer((I(NG),), "int32"),
               group_val: T.Buffer((I(NG), I(gr), I(gc)), dtype),
               out: T.Buffer(out_shape, dtype)):
        T.func_attr({"tirx.noalias": True, "dsprune.op": OP})
        flat = T.decl_buffer((I(n), I(k), I(P)), dtype, data=data.data)
        acc = T.sblock_alloc_buffer((I(n), I(B * gr), I(P)), dtype)
        res = T.sblock_alloc_buffer((I(n), I(f), I(P)), dtype)
        for vn_, b_, p_ in T.grid(I(n), I(B), I(P // V)):
            with T.sblock("group_dense"):
                vn, vb, vp = T.axis.remap("SSS", [vn_, b_, p_])
                T.reads(block_ptr[vb, I(0):I(2)], group_col[I(0):I(NG)], group_val[I(0):I(NG), I(0):I(gr), I(0):I(gc)],
                        flat[vn, I(0):I(k), vp * I(V):vp * I(V) + I(V)])
                T.writes(acc[vn, vb * I(gr):vb * I(gr) + I(gr), vp * I(V):vp * I(V) + I(V)])
                T.sblock_attr({"dsprune.op": OP})
                if V > 1:
                    sv = T.sblock_alloc_buffer((gr, V), dtype, scope="local")
                    for r in range(I(gr)):
                        for v in T.vectorized(I(V)):
                            sv[r, v] = tirx.const(0, dtype)
                    for j in range(block_ptr[vb, 0], block_ptr[vb, 1]):
                        for cc in range(I(gc)):
                            for r in range(I(gr)):
                                for v in T.vectorized(I(V)):
                                    sv[r, v] = sv[r, v] + group_val[j, r, cc] * flat[
                                        vn, T.Cast("int64", group_col[j]) + cc, vp * I(V) + v]
                    for r in range(I(gr)):
                        for v in T.vectorized(I(V)):
                            acc[vn, vb * I(gr) + r, vp * I(V) + v] = sv[r, v]
                elif LOCAL:
                    s = T.sblock_alloc_buffer((gr,), dtype, scope="local")
                    for r in range(I(gr)):
                        s[r] = tirx.const(0, dtype)
                    for j in range(block_ptr[vb, 0], block_ptr[vb, 1]):
                        for cc in range(I(gc)):
                            for r in range(I(gr)):
                                s[r] = s[r] + group_val[j, r, cc] * flat[vn, T.Cast("int64", group_col[j]) + cc, vp]
                    for r in range(I(gr)):
                        acc[vn, vb * I(gr) + r, vp] = s[r]
                else:
                    for r in range(I(gr)):
                        acc[vn, vb * I(gr) + r, vp] = tirx.const(0, dtype)
                    for j in range(block_ptr[vb, 0], block_ptr[vb, 1]):
                        for cc in range(I(gc)):
                            for r in range(I(gr)):
                                acc[vn, vb * I(gr) + r, vp] = acc[vn, vb * I(gr) + r, vp] + group_val[j, r, cc] * flat[
                                    vn, T.Cast("int64", group_col[j]) + cc, vp]
        for vn_, f_, p_ in T.grid(I(n), I(f), I(P)):
            with T.sblock("group_dense_gather"):
                vn, vf, vp = T.axis.remap("SSS", [vn_, f_, p_])
                T.reads(row_pos[vf], acc[vn, I(0):I(B * gr), vp])
                T.writes(res[vn, vf, vp])
                res[vn, vf, vp] = acc[vn, T.Cast("int64", row_pos[vf]), vp]
        if CONV:
            for vn_, f_, p_ in T.grid(I(n), I(f), I(P)):
                with T.sblock("group_dense_out"):
                    vn, vf, vp = T.axis.remap("SSS", [vn_, f_, p_])
                    out[vn, vf, vp // I(W), vp % I(W)] = res[vn, vf, vp]
        else:
            for vn_, f_ in T.grid(I(n), I(f)):
                with T.sblock("group_dense_out"):
                    vn, vf = T.axis.remap("SS", [vn_, f_])
                    out[vn, vf] = res[vn, vf, I(0)]

    return kernel
