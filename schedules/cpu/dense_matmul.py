"""x[M, K] @ W[K, F] on a CPU (ONNX Gemm/MatMul after constant folding; F contiguous in W):
output columns are vectorised, the K loop streams W row by row; tasks are column chunks."""
from __future__ import annotations

from ..common import fold_epilogue, largest_divisor, loop_extent
from ..rule import Rule
from .tiling import vectorize_innermost


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
            vectorize_innermost(sch, tail, jv)
        return sch
