"""x[M, K] @ W[K, F] on a CPU (ONNX Gemm/MatMul after constant folding; F contiguous in W):
output columns are vectorised, the K loop streams W row by row; tasks are column chunks, or
runs of K for one row against a large weight (below).

A classifier (M = 1, W of megabytes, read once per inference from memory) is bound by how W
streams. Its tasks split K: each sums a contiguous run of W's rows into a row of partial sums
(in L1), and the partial rows are added after; W streams front to back, which the prefetchers
follow. Measured on a 1280x1000 classifier after a 48 MB sweep of the caches (2 threads): 380 us,
against 626 us for wide column chunks per task (which read 800 bytes of every 4 KB row) and
4-7x that for chunks of one vector. Warm, both run ~95 us.
"""
from __future__ import annotations

from ..common import fold_epilogue, largest_divisor, loop_extent
from ..rule import Rule
from .registers import cores, vector_lanes
from .tiling import vectorize_innermost

UNROLL_VECTORS = 4        # accumulators of a task kept in registers; wider chunks sum in L1
SPLIT_K_FROM = 1 << 20    # a one-row product whose weight has at least this many bytes splits K
PARTS_PER_CORE = 4        # runs of K per core (measured on 1280x1000: 4 beat 1, 2 and 8)


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
        if _splits_k(loop_extent(sch, i), loop_extent(sch, k), loop_extent(sch, j), target):
            return _split_k(sch, mm, tail, target)
        n_j = loop_extent(sch, j)
        jv = largest_divisor(n_j, vector_lanes(target))
        ju = _vectors_per_task(n_j // jv, loop_extent(sch, i), cores(target))
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
            vectorize_innermost(sch, tail, jv, below=task)
        return sch


def _parts(target) -> int:
    return cores(target) * PARTS_PER_CORE


def _splits_k(m: int, k: int, f: int, target) -> bool:
    """One row, a weight of SPLIT_K_FROM bytes or more, and K long enough that every part sums
    at least 8 rows of it."""
    return m == 1 and k * f * 4 >= SPLIT_K_FROM and k >= 8 * _parts(target)


def _split_k(sch, mm, tail, target):
    """One row against a large weight: each core sums over its own contiguous run of K (its
    share of W's rows, streamed front to back, which memory prefetchers follow), into a
    row of partial sums in L1; the partial rows are added up after. Column chunks instead
    read a short piece of every 4 KB row, a page apart each, and stall on memory."""
    lanes = vector_lanes(target)
    i, j, k = sch.get_loops(mm)
    ko, _ = sch.split(k, [_parts(target), None])
    rf = sch.rfactor(ko, 0)
    ri, rj, rko, rki = sch.get_loops(rf)
    sch.reorder(rko, ri, rki, rj)
    n_j = loop_extent(sch, rj)
    jv = largest_divisor(n_j, lanes)
    _, rjv = sch.split(rj, [None, jv])
    sch.parallel(rko)
    sch.vectorize(rjv)
    sch.decompose_reduction(rf, rki)
    wi, wj, wko = sch.get_loops(mm)
    sch.reorder(wi, wko, wj)
    _, wjv = sch.split(wj, [None, jv])
    sch.vectorize(wjv)
    sch.decompose_reduction(mm, wko)
    if tail is not None:
        vectorize_innermost(sch, tail, jv)
    return sch
