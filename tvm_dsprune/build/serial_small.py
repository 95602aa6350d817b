"""SerialSmallKernels: a CPU kernel too small to pay for the thread pool runs on one thread.

Every CPU rule makes its outer loop parallel. For a kernel of a few thousand operations (a
squeeze-excite block's two tiny dense layers and its pooling, a classifier's bias) waking the
pool's workers, handing them their tasks and waiting for the last one costs more than the work:
such a kernel is here lowered with its parallel loops serial (MobileNet-V3-Small DEPrune-BH,
its 25 kernels under the threshold: 22 -> 16 us alone in all, 80 -> 70 us in the model; the
break-even measured near 15 000 stores: a 7840-store scatter 1.4 -> 1.1 us, a 14 400-store one
2.2 -> 2.1). The work is counted in element stores: each store, times its vector lanes, times the trip counts of the loops around it. A
loop whose trip count is not a constant (a sparse kernel's walk over its stored groups) makes
the work unknown (so do a while loop and a call into other code) and the kernel keeps its
threads.
"""
from __future__ import annotations

import math

import tvm
from tvm.tirx import stmt as S

from .tir_rebuild import rebuild

THRESHOLD = 16 * 1024           # element stores: a few microseconds on one core


def element_stores(s, trips: int = 1) -> float:
    """Element stores the statement makes (math.inf when a trip count is not constant)."""
    if isinstance(s, S.SeqStmt):
        return sum(element_stores(x, trips) for x in s.seq)
    if isinstance(s, S.While):
        return math.inf                    # a trip count known only when it runs
    if isinstance(s, S.For):
        if not isinstance(s.extent, tvm.tirx.IntImm):
            return math.inf
        return element_stores(s.body, trips * max(1, int(s.extent.value)))
    if isinstance(s, S.BufferStore):
        return trips * tvm.runtime.DataType(str(s.value.ty.dtype)).lanes
    if isinstance(s, S.IfThenElse):
        other = element_stores(s.else_case, trips) if s.else_case is not None else 0
        return element_stores(s.then_case, trips) + other
    if isinstance(s, S.Evaluate):
        op = getattr(getattr(s.value, "op", None), "name", "")
        if "extern" in op or "packed" in op:
            return math.inf                # a call into other code: its work is unknown here
        return trips                       # an intrinsic: a store's worth
    body = getattr(s, "body", None)
    if isinstance(body, tvm.tirx.Stmt):
        return element_stores(body, trips)
    return 0


def _serial(s):
    """The statement with its parallel loops serial (tir_rebuild: statement kinds it does not
    know are kept whole, their loops parallel: never wrong)."""
    return rebuild(s, _serial, lambda loop: S.ForKind.SERIAL if loop.kind == S.ForKind.PARALLEL else loop.kind)


@tvm.tirx.transform.prim_func_pass(opt_level=0, name="SerialSmallKernels")
def serial_small_kernels(func, mod, ctx):
    if element_stores(func.body) > THRESHOLD:
        return func
    body = _serial(func.body)
    return func if body.same_as(func.body) else func.with_body(body)
