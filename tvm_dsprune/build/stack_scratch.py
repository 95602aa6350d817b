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

`PIPELINE` is TVM's default TIR pipeline followed by this pass and SerialSmallKernels
(serial_small.py), registered under that name for tvm.compile(..., tir_pipeline=PIPELINE) on
CPU targets.
"""
from __future__ import annotations

import tvm
from tvm.tirx import stmt as S

from .serial_small import serial_small_kernels

PIPELINE = "dsprune_cpu"
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
        if isinstance(s, S.SeqStmt):
            seq = [self.visit(x, parallel) for x in s.seq]
            return s if all(a.same_as(b) for a, b in zip(seq, s.seq)) else S.SeqStmt(seq, s.span)
        if isinstance(s, S.For):
            body = self.visit(s.body, parallel or s.kind == S.ForKind.PARALLEL)
            return s if body.same_as(s.body) else S.For(s.loop_var, s.min, s.extent, s.kind, body,
                                                       s.thread_binding, s.annotations, s.step, s.span)
        if isinstance(s, S.IfThenElse):
            then = self.visit(s.then_case, parallel)
            other = self.visit(s.else_case, parallel) if s.else_case is not None else None
            same = then.same_as(s.then_case) and (other is None or other.same_as(s.else_case))
            return s if same else S.IfThenElse(s.condition, then, other, s.span)
        if isinstance(s, S.AttrStmt):
            body = self.visit(s.body, parallel)
            return s if body.same_as(s.body) else S.AttrStmt(s.node, s.attr_key, s.value, body, s.span)
        if isinstance(s, S.AllocBuffer) and parallel and s.buffer.scope() == "global":
            size = constant_bytes(s.buffer)
            if size is not None and 1024 <= size <= min(PER_BUFFER, self.left):
                self.left -= size
                annotations = dict(s.annotations or {})
                annotations[ANNOTATION] = tvm.tirx.IntImm("int32", 1)
                return S.AllocBuffer(s.buffer, annotations=annotations, span=s.span)
        return s


@tvm.tirx.transform.prim_func_pass(opt_level=0, name="StackScratch")
def stack_scratch(func, mod, ctx):
    body = _Rewriter().visit(func.body, False)
    return func if body.same_as(func.body) else func.with_body(body)


def register() -> str:
    """PIPELINE in TVM's table of TIR pipelines (once); its name."""
    from tvm.tirx import compilation_pipeline as table

    if PIPELINE not in table.PIPELINE_MAP:
        default = table.PIPELINE_MAP["s_tir"]

        def pipeline(**kwargs):
            lower, host, device = default(**kwargs)
            return tvm.transform.Sequential([lower, stack_scratch, serial_small_kernels], name=PIPELINE), host, device

        table.PIPELINE_MAP[PIPELINE] = pipeline
    return PIPELINE
