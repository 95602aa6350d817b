"""compile(): a (pruned) ONNX model in, a package for the target out.

    relax.lowering.lower (import, sparsify, fuse, schedule) -> tvm.compile -> runtime.package

The report lists every conv / dense layer: dense or sparse, density, format, kernel, and why.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import CompileError
from .report import make_report


@dataclass
class CompileResult:
    executable: object = field(repr=False)
    report: dict
    meta: dict
    package: Path | None = None


def compile(model, target="llvm", output=None, *, sparse: str = "auto", input_shapes=None,
            batch: int = 1, target_host=None, cross_compiler: str | None = None, report=None,
            tuning_records=None, progress=None) -> CompileResult:
    """Compile an ONNX model (path or ModelProto) for `target` and write the package `output`.

    sparse: "auto" (a layer goes sparse where the target's cost model says it is faster),
        "on" (every pruned layer), "off" (all dense).
    input_shapes: {"input": (1, 3, 224, 224)} or ["input:1x3x224x224"]; a symbolic batch is `batch`.
    target_host: llvm host of a GPU target (name or JSON dict); cross_compiler: the C++ compiler
        that links the host code for a board (e.g. aarch64-linux-gnu-g++).
    report: also write the compile report (JSON) here. progress: a callable(str) for status.
    """
    import tvm

    from .. import targets
    from ..relax.lowering import lower
    from ..relax.pipeline import unscheduled_gpu_functions

    say = progress or (lambda msg: None)
    t0 = time.perf_counter()
    target = targets.resolve(target, target_host)
    database = None
    if tuning_records:
        from ..tuning.database import open_database

        database = open_database(tuning_records, target)
    low = lower(model, target, sparse=sparse, input_shapes=input_shapes, batch=batch, database=database,
                progress=say)
    if target.is_gpu:
        unbound = unscheduled_gpu_functions(low.mod)
        if unbound:
            raise CompileError(f"{len(unbound)} kernel(s) got no GPU schedule and would run on the host: "
                               f"{', '.join(unbound[:5])}")
    say("building")
    ex = tvm.compile(low.mod, target=target.tvm(), relax_pipeline=tvm.transform.Sequential([]))
    rep = make_report(low.records, target.name, sparse, low.frontend)
    meta = {"target": target.as_dict(), "target_name": target.name, "target_host": target.host_dict(),
            "inputs": [i.as_dict() for i in low.inputs], "outputs": [o.as_dict() for o in low.outputs],
            "sparse": sparse, "report": rep, "kernels": low.kernels,
            "compile_seconds": round(time.perf_counter() - t0, 1)}
    result = CompileResult(ex, rep, meta)
    if output is not None:
        from ..runtime import package

        say(f"writing {output}")
        result.package = package.write(ex, output, meta, target, cross_compiler)
    if report is not None:
        from ..outputs import output_set

        with output_set() as out:
            out.path(report).write_text(json.dumps(rep, indent=1))
    return result
