"""x[M, K] @ W[K, F] on a CPU (ONNX Gemm/MatMul after constant folding; F contiguous in W):
output columns are vectorised, the K loop streams W row by row; tasks are column chunks.

A classifier (M = 1, W of megabytes, read once per inference from memory) is bound by how W
streams: each task takes a wide chunk of columns (as few tasks as there are cores), so it reads
long contiguous runs of every row. Chunks of one vector per task (32 bytes of every 4 KB row)
ran a 1280x1000 classifier 4-7x slower.
"""
from __future__ import annotations

from ..common import fold_epilogue, largest_divisor, loop_extent
from ..rule import Rule
from .registers import vector_lanes
from .tiling import vectorize_innermost

UNROLL_VECTORS = 4        # accumulators of a task kept in registers; wider chunks sum in L1


def _vectors_per_task(vectors: int, rows: int, cores: int) -> int:
    """The widest column chunk (in vectors, dividing `vectors`) that still gives every core a
    task: rows x chunks >= cores."""
    want = max(1, -(-cores // max(rows, 1)))
    fits = [d for d in range(1, vectors + 1) if vectors % d == 0 and vectors // d >= want]
    return max(fits) if fits else 1


class DenseMatmul(Rule):
    name = "cpu.dense_matmul"
    blocks = ("matmul",)

    def schedule(self, sch, mm, target, tunable):
        loops = sch.get_loops(mm)
        if len(loops) != 3:
            return None
        i, j, k = loops
        tail = fold_epilogue(sch, mm)
        n_j = loop_extent(sch, j)
        jv = largest_divisor(n_j, vector_lanes(target))
        ju = _vectors_per_task(n_j // jv, loop_extent(sch, i), int(target.attrs.get("num-cores", 1)))
        jo, jm, ji = sch.split(j, [None, ju, jv])
        sch.reorder(i, jo, k, jm, ji)
        task = sch.fuse(i, jo)
        sch.parallel(task)
        if ju <= UNROLL_VECTORS:
            sch.unroll(jm)
        sch.vectorize(ji)
        sch.decompose_reduction(mm, k)
        if tail is not None:
            sch.reverse_compute_at(tail, task)
            vectorize_innermost(sch, tail, jv)
        return sch
