"""The per-target Relax pipeline: fold -> sparsify -> legalize/fuse -> schedules -> lower.

Built from TVM's own backend pipelines (relax.backend.{cpu_generic,cuda,gpu_generic}), with the
sparsify passes before legalization, a vectorisable exp/sigmoid on CPUs (fast_math) and the schedule collection's rules applied to every fused
PrimFunc (dlight's ApplyDefaultSchedule); on GPUs dlight's default GPU rules follow ours for
everything the collection does not cover. Plain `tvm.compile` on llvm would not fuse at all.
"""
from __future__ import annotations

import os

import tvm
from tvm import relax

from .fast_math import legalize_map
from .layer_records import LayerNames
from .sparsify_dense import SparsifyDense
from .sparsify_depthwise import SparsifyDepthwise


def host_cpu() -> str | None:
    f = tvm.get_global_func("target.llvm_get_system_cpu", allow_missing=True)
    name = f() if f is not None else None
    return name if name and name != "generic" else None


def tvm_target(spec, host=None) -> tvm.target.Target:
    """The tvm.target.Target for a schedule-collection TargetSpec.

    A bare `llvm` means this machine's CPU: its -mcpu (vector width, FMA) and core count are
    filled in. GPU targets get an llvm host (the spec's board host unless `host` is given).
    """
    target = dict(spec.target)
    if target["kind"] == "llvm":
        cpu = host_cpu()
        if cpu and "mcpu" not in target and "mtriple" not in target:
            target["mcpu"] = cpu
        target.setdefault("num-cores", len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                          else os.cpu_count() or 1)
        return tvm.target.Target(target)
    host = host if host is not None else (spec.host or {"kind": "llvm"})
    return tvm.target.Target(target, host=host)


def target_dict(target: tvm.target.Target) -> dict:
    """A tvm Target as a plain JSON-able dict (TVM 0.27: Target.export())."""
    import json

    def plain(v):
        if isinstance(v, (str, int, float, bool)) or v is None:
            return v
        if hasattr(v, "items"):
            return {str(k): plain(x) for k, x in v.items()}
        if hasattr(v, "__iter__"):
            return [plain(x) for x in v]
        return str(v)

    out = plain(target.export())
    json.dumps(out)
    return out


def _backend(target: tvm.target.Target):
    from tvm.relax.backend import cpu_generic, cuda, gpu_generic

    if target.kind.name == "cuda":
        return cuda.pipeline
    if "gpu" in target.keys:
        return gpu_generic.pipeline
    return cpu_generic.pipeline


def schedule_rules(spec, target: tvm.target.Target) -> list:
    rules = list(spec.rules()) if spec.rules is not None else []
    if "gpu" in target.keys:
        from tvm.s_tir import dlight as dl

        rules += [dl.gpu.Matmul(), dl.gpu.GEMV(), dl.gpu.Reduction(), dl.gpu.GeneralReduction(),
                  dl.gpu.Fallback()]
    return rules


def sparsify_passes(spec, sparse: str = "auto", names: LayerNames | None = None,
                    records: list | None = None) -> list:
    g = spec.geometry
    names = names if names is not None else LayerNames()
    gpu = spec.family != "cpu"               # GPU thread binding needs the local-accumulator form
    return [SparsifyDepthwise(g, spec.cost, sparse, g.pixel_tile, names, records, local_accumulator=gpu),
            SparsifyDense(spec.cost, sparse, names, records, local_accumulator=gpu,
                          vector_lanes=g.vector_width if spec.family == "opencl" else 1)]


def build_pipeline(spec, target: tvm.target.Target, sparse: str = "auto",
                   names: LayerNames | None = None, records: list | None = None,
                   database=None, stop_after: str | None = None) -> tvm.transform.Pass:
    """The whole Relax pipeline for `tvm.compile(mod, target, relax_pipeline=...)`.

    stop_after="schedule" ends once every PrimFunc is scheduled, before the Relax function is
    lowered for the VM (the PoCL harness walks it there)."""
    backend = _backend(target)
    from tvm.s_tir import dlight as dl

    prepare = [relax.transform.FoldBatchnormToConv2D(), relax.transform.DecomposeOpsForInference(),
               relax.transform.FoldConstant()]
    fuse = [relax.transform.LegalizeOps(legalize_map(target)), relax.transform.AnnotateTIROpPattern(),
            relax.transform.FoldConstant(), relax.transform.FuseOps(), relax.transform.FuseTIR()]
    tuned = [relax.transform.MetaScheduleApplyDatabase(enable_warning=False)] if database is not None else []
    schedule = [dl.ApplyDefaultSchedule(*schedule_rules(spec, target))]
    passes = (backend.library_dispatch_passes(target) + prepare
              + sparsify_passes(spec, sparse, names, records) + fuse + tuned + schedule)
    if stop_after != "schedule":
        passes += backend.dataflow_lower_passes(target) + backend.finalize_passes(target)

    @tvm.transform.module_pass(opt_level=0, name="DsPrunePipeline")
    def _pipeline(mod: tvm.ir.IRModule, _ctx) -> tvm.ir.IRModule:
        with target:
            if database is not None:
                with database:
                    return tvm.transform.Sequential(passes)(mod)
            return tvm.transform.Sequential(passes)(mod)

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
            if not is_root and not bound and _writes(block):
                return True
            return unbound(block.body, bound) or (block.init is not None and unbound(block.init, bound))
        body = getattr(stmt, "body", None)
        return unbound(body, bound) if isinstance(body, tirx.Stmt) else False

    def _writes(block) -> bool:
        return len(block.writes) > 0

    bad = []
    for gv, func in mod.functions_items():
        if isinstance(func, tirx.PrimFunc) and unbound(func.body, False):
            bad.append(gv.name_hint)
    return bad
