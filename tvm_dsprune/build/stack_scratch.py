"""StackScratch: a CPU kernel's per-task scratch buffers live on the worker's stack.

A buffer allocated inside a parallel loop (a depthwise channel's padded plane) is allocated
once per task. TVM lowers every such "global" allocation of 1 KB or more to a
TVMBackendAllocWorkspace / TVMBackendFreeWorkspace pair: a call into the runtime's workspace
pool per channel (MobileNet-V2's first depthwise conv, 32 channels of 112x112: 134 -> 90 us
with the plane on the stack). Here each such buffer of constant size up to PER_BUFFER bytes (PER_FUNCTION
in all per function) is marked `disable_lower_builtin`, so LLVM gives it a stack slot in the
task's frame. Thread-pool threads have megabytes of stack; the budget stays far inside even
Android's 1 MB.

Register tiles ("local" scope, a few hundred bytes) keep TVM's lowering: as stack slots LLVM
splits them into scalars and shuffles the sums in and out of vectors on every iteration (a
1x1 conv ran 2-5x slower that way).

The pass runs in the CPU targets' TIR pipeline (tir_pipeline.py).
"""
from __future__ import annotations

import tvm
from tvm.tirx import stmt as S

from .tir_rebuild import rebuild

PER_BUFFER = 64 * 1024
PER_FUNCTION = 256 * 1024
ANNOTATION = "disable_lower_builtin"       # TVM's kDisableLowerTVMBuiltin


def constant_bytes(buffer) -> int | None:
    n = 1
    for d in buffer.shape:
        if not isinstance(d, tvm.tirx.IntImm):
            return None
        n *= int(d)
    dtype = tvm.runtime.DataType(str(buffer.dtype))
    return n * dtype.bits * dtype.lanes // 8          # a vector dtype (float32x16) holds `lanes` values


class _Rewriter:
    """Rebuilds only the statements on the way to a rewritten allocation; any statement kind it
    does not know is left whole (its allocations keep the workspace: never wrong, only slower)."""

    def __init__(self):
        self.left = PER_FUNCTION

    def visit(self, s, parallel: bool):
        if isinstance(s, S.AllocBuffer) and parallel and s.buffer.scope() == "global":
            size = constant_bytes(s.buffer)
            if size is not None and 1024 <= size <= min(PER_BUFFER, self.left):
                self.left -= size
                annotations = dict(s.annotations or {})
                annotations[ANNOTATION] = tvm.tirx.IntImm("int32", 1)
                return S.AllocBuffer(s.buffer, annotations=annotations, span=s.span)
            return s
        inside = parallel or (isinstance(s, S.For) and s.kind == S.ForKind.PARALLEL)
        return rebuild(s, lambda c: self.visit(c, inside))


@tvm.tirx.transform.prim_func_pass(opt_level=0, name="StackScratch")
def stack_scratch(func, mod, ctx):
    body = _Rewriter().visit(func.body, False)
    return func if body.same_as(func.body) else func.with_body(body)
