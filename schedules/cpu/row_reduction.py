"""A sum over the innermost axes of its input (a global average pool, a mean over the last
axis) on a CPU: each output's row of inputs is contiguous, so the row is summed in vector lanes.

A squeeze-excite block starts with one of these (the mean of a feature map over its pixels). As a
plain reduction, each channel's sum is one chain of dependent scalar adds (240 channels of
14x14: 17 us, against 5 here); TVM's own reduction rule puts channels in the lanes and gathers the pixels.
Here the row is cut into `lanes` interleaved partial sums (rfactor), accumulated as vectors, and
added up per output; the outputs are the parallel tasks.

Design space (tunable): the number of partial sums, among the divisors of the row length.
"""
from __future__ import annotations

from ...interrupts import reraise_if_interrupt
from ..common import child_blocks, choose, largest_divisor, loop_extent
from ..rule import Rule
from .registers import vector_lanes

DATA_PAR, COMM_REDUCE = 0, 2            # IterVar kinds


def _reduces(sch, blk) -> bool:
    return any(int(iv.iter_type) == COMM_REDUCE for iv in sch.get(blk).iter_vars)


def _row_sum(sch, blk) -> int | None:
    """If `blk` is out[s...] += in[s..., r...] with the reduce axes innermost, in order, and
    covering the input's trailing axes whole: the number of spatial axes s; else None."""
    from tvm import tirx
    from tvm.ir.expr import TensorLoad as BufferLoad    # what tirx.BufferLoad builds in TVM 0.27

    stmt = sch.get(blk)
    ivs = list(stmt.iter_vars)
    kinds = [int(iv.iter_type) for iv in ivs]
    if set(kinds) - {DATA_PAR, COMM_REDUCE} or COMM_REDUCE not in kinds:
        return None
    n_s = kinds.index(COMM_REDUCE)
    if any(k != COMM_REDUCE for k in kinds[n_s:]) or len(sch.get_loops(blk)) != len(ivs):
        return None
    store = stmt.body
    if not isinstance(store, tirx.BufferStore) or not isinstance(store.value, tirx.Add):
        return None
    acc, src = store.value.a, store.value.b
    if not (isinstance(acc, BufferLoad) and acc.source.same_as(store.buffer)):
        return None
    loads = _loads(src, BufferLoad)
    red = [iv.var for iv in ivs[n_s:]]
    return n_s if loads and all(_reads_row(load, red, ivs[n_s:]) for load in loads) else None


def _loads(expr, load_type) -> list:
    """Every buffer load in an expression (TVM 0.27's tirx has no expression visitor in Python)."""
    if isinstance(expr, load_type):
        return [expr]
    found = []
    for field in ("a", "b", "value", "condition", "true_value", "false_value"):
        sub = getattr(expr, field, None)
        if sub is not None and not isinstance(sub, (int, float, str)):
            found += _loads(sub, load_type)
    for arg in getattr(expr, "args", None) or []:
        found += _loads(arg, load_type)
    return found


def _reads_row(load, red, red_ivs) -> bool:
    """Whether `load` reads a buffer whose trailing axes are exactly the reduce axes, in order."""
    from tvm import tirx

    idx = list(load.indices)
    if len(idx) < len(red):
        return False
    tail = idx[len(idx) - len(red):]
    dims = list(load.source.shape)[len(idx) - len(red):]
    return (all(isinstance(i, tirx.Var) and i.same_as(v) for i, v in zip(tail, red))
            and all(int(d) == int(iv.dom.extent) for d, iv in zip(dims, red_ivs)))


def partial_sums(row: int, lanes: int) -> int:
    """How many interleaved partial sums a row of `row` floats is cut into: up to four vectors
    of them where whole vectors divide the row (independent adds hide the add latency), else
    the largest divisor of the row up to one vector (14 for 14x14, 7 for 7x7)."""
    whole = [v * lanes for v in (4, 2, 1) if row % (v * lanes) == 0]
    return whole[0] if whole else largest_divisor(row, lanes)


class RowReduction(Rule):
    name = "cpu.row_reduction"

    def schedule(self, sch, _block, target, tunable):
        for blk in child_blocks(sch):               # elementwise producers (an activation) read in the sums
            if _reduces(sch, blk):
                break
            try:
                sch.compute_inline(blk)
            except Exception as err:  # noqa: BLE001 - a producer that cannot inline: declined below
                reraise_if_interrupt(err)
        blk, *after = child_blocks(sch)
        if any(int(iv.iter_type) != DATA_PAR for b in after for iv in sch.get(b).iter_vars):
            return None                             # only an elementwise epilogue (the divide) follows
        n_s = _row_sum(sch, blk)
        if not n_s:                                 # not a row sum, or one sum of everything
            return None
        loops = sch.get_loops(blk)
        s = sch.fuse(*loops[:n_s]) if n_s > 1 else loops[0]
        r = sch.fuse(*loops[n_s:]) if len(loops) - n_s > 1 else loops[n_s]
        row = loop_extent(sch, r)
        lanes = vector_lanes(target)
        default = partial_sums(row, lanes)
        if default < 2:
            return None
        width = choose(sch, tunable, sorted({d for d in (default, largest_divisor(row, lanes),
                                                          largest_divisor(row, 2 * lanes)) if d > 1}), default)
        _, ri = sch.split(r, [None, width])
        rf = sch.rfactor(ri, n_s)                  # partial sums innermost in their buffer: contiguous
        sch.reverse_compute_at(blk, sch.get_loops(rf)[0])
        for tail in after:
            sch.reverse_compute_at(tail, sch.get_loops(rf)[0])
        outer = sch.get_loops(rf)[0]
        if loop_extent(sch, outer) > 1:
            sch.parallel(outer)
        sch.vectorize(sch.get_loops(rf)[-1])
        init = sch.decompose_reduction(rf, sch.get_loops(rf)[1])
        sch.vectorize(sch.get_loops(init)[-1])
        return sch
