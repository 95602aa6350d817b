"""The per-target Relax pipeline: fold -> constant channels -> sparsify -> legalize/fuse ->
schedules -> lower.

Built from TVM's own backend pipelines (relax.backend.{cpu_generic,cuda,gpu_generic}), with the
sparsify passes before legalization, a vectorisable exp/sigmoid on CPUs (fast_math) and the
schedule collection's rules applied to every fused PrimFunc (dlight's ApplyDefaultSchedule); on
GPUs dlight's default GPU rules follow ours for everything the collection does not cover. Plain
`tvm.compile` on llvm would not fuse at all.
"""
from __future__ import annotations

import tvm
from tvm import relax

from . import conv_transpose
from .fast_math import legalize_map
from .layer_records import check_sparse_mode
from .sparsify_dense import SparsifyDense
from .sparsify_depthwise import SparsifyDepthwise

STAGES = ("fuse", "schedule", "build")


def _backend(tvm_target):
    from tvm.relax.backend import cpu_generic, cuda, gpu_generic

    if tvm_target.kind.name == "cuda":
        return cuda.pipeline
    if "gpu" in tvm_target.keys:
        return gpu_generic.pipeline
    return cpu_generic.pipeline


def legalize_overrides(tvm_target) -> dict:
    """Our legalizations in place of TOPI's: the phase form of stride = kernel ConvTransposes
    (conv_transpose.py), and on CPUs a vectorisable exp / sigmoid (fast_math.py)."""
    return {"relax.nn.conv2d_transpose": conv_transpose.legalize, **(legalize_map(tvm_target) or {})}


def schedule_rules(target) -> list:
    """The collection's rules for `target` (a targets.Target), then dlight's GPU defaults."""
    rules = target.rules()
    if target.is_gpu:
        from tvm.s_tir import dlight as dl

        from ..schedules.rule import guarded

        rules += guarded([dl.gpu.Matmul(), dl.gpu.GEMV(), dl.gpu.Reduction(), dl.gpu.GeneralReduction(),
                          dl.gpu.Fallback()])
    return rules


def sparsify_passes(target, sparse: str = "auto") -> list:
    """The channels filter pruning made constant folded into the next layers' biases (not with
    sparse "off": the dense build stays the model as written), the pruned layers to sparse
    kernels; on CPUs, a depthwise conv and the group-sparse 1x1 conv after it fused into one
    kernel, and the dense 1x1 convs left to the flat-pixel GEMM kernel (GPUs schedule those
    convs with their own rules)."""
    from .fold_constant_channels import FoldConstantChannels
    from .pointwise_gemm import PointwiseAsGemm

    g = target.geometry
    local = target.is_gpu                     # GPU thread binding needs the local-accumulator form
    if target.is_gpu:
        lanes, width = (g.vector_width if target.family == "opencl" else 1), g.pixel_tile
    else:
        from ..schedules.cpu.registers import vector_lanes

        lanes = width = vector_lanes(target.tvm())
    passes = [SparsifyDepthwise(g, target.cost, sparse, width, local_accumulator=local),
              SparsifyDense(target.cost, sparse, local_accumulator=local, vector_lanes=lanes)]
    if sparse != "off":
        passes.insert(0, FoldConstantChannels())
    if target.is_gpu:
        return passes
    from .fuse_dw_pointwise import FuseDepthwisePointwise

    return passes + [FuseDepthwisePointwise(target.cost, lanes), PointwiseAsGemm()]


def stage_passes(target, sparse: str = "auto", database=None) -> dict[str, list]:
    """The passes of each stage, in order: "fuse" (legalized and fused, nothing scheduled:
    tuning extracts its tasks here), "schedule" (tuned records first, then the collection's
    rules), "build" (lowered for the VM, ready for tvm.compile)."""
    from tvm.s_tir import dlight as dl

    check_sparse_mode(sparse)
    tvm_target = target.tvm()
    backend = _backend(tvm_target)
    prepare = [relax.transform.FoldBatchnormToConv2D(), relax.transform.DecomposeOpsForInference(),
               relax.transform.FoldConstant()]
    fuse = [relax.transform.LegalizeOps(legalize_overrides(tvm_target)), relax.transform.AnnotateTIROpPattern(),
            relax.transform.FoldConstant(), relax.transform.FuseOps(), relax.transform.FuseTIR()]
    tuned = []
    if database is not None:
        # The pass reads the target when it is made, not when it runs.
        with tvm_target:
            tuned = [relax.transform.MetaScheduleApplyDatabase(enable_warning=False), mark_tuned]
    return {"fuse": backend.library_dispatch_passes(tvm_target) + prepare + sparsify_passes(target, sparse) + fuse,
            "schedule": tuned + [dl.ApplyDefaultSchedule(*schedule_rules(target))],
            "build": backend.dataflow_lower_passes(tvm_target) + backend.finalize_passes(tvm_target)}


TUNED_ATTR = "dsprune.tuned"


@tvm.transform.module_pass(opt_level=0, name="DsPruneMarkTuned")
def mark_tuned(mod: tvm.ir.IRModule, _ctx) -> tvm.ir.IRModule:
    """Mark the functions a tuning record scheduled (the collection's rules mark theirs
    `tirx.is_scheduled` too, later): the compile report says which layers run tuned."""
    from tvm import tirx

    for gv, func in list(mod.functions_items()):
        if isinstance(func, tirx.PrimFunc) and func.attrs is not None and "tirx.is_scheduled" in func.attrs:
            mod[gv] = func.with_attr(TUNED_ATTR, True)
    return mod


def run_stages(mod, target, stages: dict[str, list], upto: str = "build", database=None, after=None):
    """Run the stages up to and including `upto` under the target (and database) context;
    `after(stage, mod) -> mod` sees the module between stages."""
    if upto not in STAGES:
        raise ValueError(f"stop_after must be one of {STAGES}")
    with target.tvm():
        ctx = database if database is not None else _null()
        with ctx:
            for stage in STAGES[:STAGES.index(upto) + 1]:
                mod = tvm.transform.Sequential(stages[stage])(mod)
                if after is not None:
                    mod = after(stage, mod)
    return mod


def finish_build(mod, target, sparse: str = "auto"):
    """A module lowered to "schedule", taken through the "build" stage (ready for tvm.compile).
    For callers that keep the scheduled module too (an OpenCL package carries it for PoCL)."""
    with target.tvm():
        return tvm.transform.Sequential(stage_passes(target, sparse)["build"])(mod)


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def build_pipeline(target, sparse: str = "auto", database=None, stop_after: str = "build") -> tvm.transform.Pass:
    """The whole pipeline as one pass (for `tvm.compile(mod, target, relax_pipeline=...)` and
    users' own scripts), to `stop_after` (see stage_passes)."""
    stages = stage_passes(target, sparse, database)

    @tvm.transform.module_pass(opt_level=0, name="DsPrunePipeline")
    def _pipeline(mod: tvm.ir.IRModule, _ctx) -> tvm.ir.IRModule:
        return run_stages(mod, target, stages, stop_after, database)

    return _pipeline


def unscheduled_gpu_functions(mod: tvm.ir.IRModule) -> list[str]:
    """PrimFuncs of a GPU module with a computation outside every thread binding: built as they
    are, those loops would run on the host. The compile step refuses to build such a module."""
    from tvm import tirx

    def unbound(stmt, bound: bool) -> bool:
        if isinstance(stmt, tirx.For):
            return unbound(stmt.body, bound or stmt.kind == tirx.ForKind.THREAD_BINDING)
        if isinstance(stmt, tirx.SeqStmt):
            return any(unbound(s, bound) for s in stmt.seq)
        block = getattr(stmt, "block", None)                  # SBlockRealize
        if block is not None:
            is_root = block.name_hint == "root"
            if not is_root and not bound and len(block.writes) > 0:
                return True
            return unbound(block.body, bound) or (block.init is not None and unbound(block.init, bound))
        body = getattr(stmt, "body", None)
        return unbound(body, bound) if isinstance(body, tirx.Stmt) else False

    return [gv.name_hint for gv, func in mod.functions_items()
            if isinstance(func, tirx.PrimFunc) and unbound(func.body, False)]
