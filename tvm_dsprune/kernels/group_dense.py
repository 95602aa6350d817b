"""The group-sparse dense operator: 1x1 convs (NCHW) and dense layers with a compressed weight.

    acc[n, r, p]  = sum over groups j of row block b = r // gr:
                    sum_cc group_val[j, r % gr, cc] * x[n, group_col[j] + cc, p]

Block b's groups are group_col/group_val[block_ptr[b, 0] : block_ptr[b, 1]]
(sparse/group_format.py). One block instance computes all gr rows of a row block, so each input
row it loads serves gr outputs. Two forms:

- build_gpu, over a compacted format: rows that filter pruning emptied are not stored nor
  computed, and `_gather` (row_pos) puts the rows back, a zero row for the dropped ones;
- build_cpu, over the rows in place (an empty row has no groups), pixel tiles of whole
  vectors with their sums in registers, written straight to the output.
"""
from __future__ import annotations

import functools

from tvm import tirx
from tvm.script import tirx as T

OP = "group_dense"


@functools.lru_cache(maxsize=256)
def build_gpu(n: int, k: int, f: int, spatial: tuple[int, ...], gr: int, gc: int, num_groups: int,
              num_blocks: int, vector_lanes: int = 1, dtype: str = "float32"):
    """The GPU form, over a compacted format (group_format.cover): PrimFunc(data[N, K, *spatial],
    row_pos[F], block_ptr[B, 2], group_col[NG], group_val[NG, gr, gc], out[N, F, *spatial]),
    spatial = (H, W) for a 1x1 conv and () for a dense layer (the 1x1 conv of N one-pixel
    images).

    One block instance computes the gr rows of a row block for one pixel (or `vector_lanes`
    consecutive pixels, P divisible by it) in a block-local sum stored once — a complete
    block, which thread binding requires. With vector_lanes > 1 the sum is [gr, lanes] and the
    pixels are a vectorised inner loop (float4 loads and sums on Mali: a vectorised loop over a
    block with a one-element local sum would give every lane the same sum). The compacted rows
    are gathered back (`_gather`, row_pos) before the output block takes the epilogue."""
    I = T.int64
    P = 1
    for d in spatial:
        P *= d
    V = vector_lanes if P % vector_lanes == 0 else 1
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
                else:
                    s = T.sblock_alloc_buffer((gr,), dtype, scope="local")
                    for r in range(I(gr)):
                        s[r] = tirx.const(0, dtype)
                    for j in range(block_ptr[vb, 0], block_ptr[vb, 1]):
                        for cc in range(I(gc)):
                            for r in range(I(gr)):
                                s[r] = s[r] + group_val[j, r, cc] * flat[vn, T.Cast("int64", group_col[j]) + cc, vp]
                    for r in range(I(gr)):
                        acc[vn, vb * I(gr) + r, vp] = s[r]
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


@functools.lru_cache(maxsize=256)
def build_cpu(n: int, k: int, f: int, spatial: tuple[int, ...], gr: int, gc: int, num_groups: int,
              num_blocks: int, tile: int, lanes: int = 8, dtype: str = "float32"):
    """The CPU form: PrimFunc(data[N, K, *spatial], block_ptr[B, 2], group_col[NG],
    group_val[NG, gr, gc], out[N, F, *spatial]) over an uncompacted format (group_format.cover
    with compact=False: row block b holds rows b*gr .. b*gr+gr-1, an empty row has no groups).

    One block instance computes a row block on a tile of `tile` pixels in local sums, vectorised
    along the pixels (where the tile does not divide the image, the last tile starts early and
    overlaps the one before: it recomputes a few pixels instead of running a partial vector,
    whose sums could not stay in registers): per stored group, each input row it
    touches is loaded once as a vector and feeds gr multiply-adds (the weight-stationary walk of
    XNNPACK's sparse kernels). The gc columns of a group go to separate partial sums while
    there are fewer than 8 chains of sums otherwise: one chain of dependent multiply-adds runs
    at the FMA latency, not its throughput. The result goes straight to its rows: no gather."""
    I = T.int64
    P = 1
    for d in spatial:
        P *= d
    TP, TT, B = min(tile, P), -(-P // min(tile, P)), num_blocks
    OVERLAP = P % TP != 0              # the last tile starts at P - TP, overlapping the one before
    NG = max(1, num_groups)
    CONV = len(spatial) == 2
    W = spatial[-1] if CONV else 1
    chains = gr * -(-TP // lanes)
    S = max(1, min(gc, 8 // chains))                  # partial sums: columns cc go to cc % S
    in_shape = tuple(I(d) for d in (n, k, *spatial))
    out_shape = tuple(I(d) for d in (n, f, *spatial))
    ZERO = tirx.const(0, dtype)

    @T.prim_func(private=True, s_tir=True)
    def kernel(data: T.Buffer(in_shape, dtype),
               block_ptr: T.Buffer((I(B), I(2)), "int32"),
               group_col: T.Buffer((I(NG),), "int32"),
               group_val: T.Buffer((I(NG), I(gr), I(gc)), dtype),
               out: T.Buffer(out_shape, dtype)):
        T.func_attr({"tirx.noalias": True, "dsprune.op": OP})
        flat = T.decl_buffer((I(n), I(k), I(P)), dtype, data=data.data)
        acc = T.sblock_alloc_buffer((I(n), I(B * gr), I(TT * TP)), dtype)
        for vn_, t_, b_ in T.grid(I(n), I(TT), I(B)):
            with T.sblock("group_dense"):
                vn, vt, vb = T.axis.remap("SSS", [vn_, t_, b_])
                start = T.meta_var(T.min(vt * I(TP), I(P - TP)) if OVERLAP else vt * I(TP))
                # the regions are the nominal, disjoint tiles (the intermediate is padded to whole
                # tiles): the overlapping last tile only rewrites values the one before it wrote
                T.reads(block_ptr[vb, I(0):I(2)], group_col[I(0):I(NG)], group_val[I(0):I(NG), I(0):I(gr), I(0):I(gc)],
                        flat[vn, I(0):I(k), I(0):I(P)])
                T.writes(acc[vn, vb * I(gr):vb * I(gr) + I(gr), vt * I(TP):vt * I(TP) + I(TP)])
                T.sblock_attr({"dsprune.op": OP})
                sv = T.sblock_alloc_buffer((S, gr, TP), dtype, scope="local")
                for s in T.unroll(I(S)):
                    for r in T.unroll(I(gr)):
                        for v in T.vectorized(I(TP)):
                            sv[s, r, v] = ZERO
                for j in range(block_ptr[vb, 0], block_ptr[vb, 1]):
                    for cc in T.unroll(I(gc)):
                        for r in T.unroll(I(gr)):
                            for v in T.vectorized(I(TP)):
                                sv[cc % I(S), r, v] = sv[cc % I(S), r, v] + group_val[j, r, cc] * flat[
                                    vn, T.Cast("int64", group_col[j]) + cc, start + v]
                for r in T.unroll(I(gr)):
                    for v in T.vectorized(I(TP)):
                        acc[vn, vb * I(gr) + r, start + v] = sv[I(0), r, v]
                    for s in T.unroll(I(1), I(S)):
                        for v in T.vectorized(I(TP)):
                            acc[vn, vb * I(gr) + r, start + v] = acc[vn, vb * I(gr) + r, start + v] + sv[s, r, v]
        if CONV:
            for vn_, f_, p_ in T.grid(I(n), I(f), I(P)):
                with T.sblock("group_dense_out"):
                    vn, vf, vp = T.axis.remap("SSS", [vn_, f_, p_])
                    out[vn, vf, vp // I(W), vp % I(W)] = acc[vn, vf, vp]
        else:
            for vn_, f_ in T.grid(I(n), I(f)):
                with T.sblock("group_dense_out"):
                    vn, vf = T.axis.remap("SS", [vn_, f_])
                    out[vn, vf] = acc[vn, vf, I(0)]

    return kernel


def pixel_tile(pixels: int, lanes: int, rows: int = 1, registers: int = 16) -> int:
    """The pixel tile of the CPU form: 4, 2 or 1 vectors (powers of two: LLVM spills the sums
    and broadcasts of vectors of other widths) whose gr rows of sums fit in 3/4 of the vector
    registers. Wider tiles spread each row's fixed cost (its sums, its group list) over more
    multiply-adds (measured: 4 vectors beat 2 by up to 2x on 14x14 and 7x7 layers with few
    groups per row), so the widest that divides the image, else the widest whose overlapping
    last tile recomputes at most 35% of the image; never wider than the image, whose pixel
    count would then be the vector (7x7: two overlapping tiles of 2 vectors, not one
    49-lane vector that LLVM assembles lane by lane: the 7x7 layers of MobileNet-V2's CPU
    plan 5-20% faster alone)."""
    fits = [v * lanes for v in (4, 2, 1) if rows * v <= registers * 3 // 4] or [lanes]
    dividing = [t for t in fits if pixels % t == 0]
    if dividing:
        return min(dividing[0], pixels)
    cheap = [t for t in fits if -(-pixels // t) * t <= 1.35 * pixels and t <= pixels]
    return min((cheap or fits[-1:])[0], pixels)
