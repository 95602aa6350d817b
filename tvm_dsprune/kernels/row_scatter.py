"""Scatter the rows a dense kernel computed for the kept filters back to every output row.

    out[n, f, ...] = narrow[n, pos[f], ...] * keep[f]      (keep[f] = 0 for a pruned filter f)

The second half of a "compact rows" layer (relax/sparsify_dense.py): filter pruning leaves
whole weight rows empty, the target's dense kernel computes only the kept ones, and this
injective function restores the layer's output shape. Annotated injective, so FuseOps fuses the
bias / activation / residual epilogue after it into the same loop nest (relax.op.take legalizes
to an opaque function that nothing fuses with).
"""
from __future__ import annotations

INJECTIVE = 2          # TVM's kInjective


def build(narrow_shape, rows: int, dtype: str = "float32"):
    """PrimFunc(narrow[N, K, ...], pos[F] int32, keep[F], out[N, F, ...]); axis 1 is the row axis."""
    from tvm import te, tirx

    i64 = lambda d: tirx.IntImm("int64", int(d))     # noqa: E731 - Relax's legalized funcs use int64 shapes
    narrow = te.placeholder(tuple(map(i64, narrow_shape)), dtype, name="narrow")
    pos = te.placeholder((i64(rows),), "int32", name="pos")
    keep = te.placeholder((i64(rows),), dtype, name="keep")
    out_shape = tuple(map(i64, (narrow_shape[0], rows, *narrow_shape[2:])))
    out = te.compute(out_shape, lambda n, f, *rest: narrow[(n, pos[f], *rest)] * keep[f], name="row_scatter")
    func = te.create_prim_func([narrow, pos, keep, out]).without_attr("global_symbol")   # private, like the others
    return func.with_attr("op_pattern", INJECTIVE)
