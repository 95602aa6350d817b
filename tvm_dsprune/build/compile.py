"""compile(): a (pruned) ONNX model in, a package for the target out.

    relax.lowering.lower (import, sparsify, fuse, schedule) -> tvm.compile -> runtime.package

The report lists every conv / dense layer: dense or sparse, density, format, kernel, and why.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import CompileError, InputError
from .report import make_report


@dataclass
class CompileResult:
    executable: object = field(repr=False)
    report: dict
    meta: dict
    package: Path | None = None


def compile(model, target="llvm", output=None, *, sparse: str = "auto", input_shapes=None,
            batch: int = 1, target_host=None, cross_compiler: str | None = None,
            cross_compiler_options: str | None = None, report=None, tuning_records=None,
            progress=None) -> CompileResult:
    """Compile an ONNX model (path or ModelProto) for `target` and write the package `output`.

    sparse: "auto" (a layer goes sparse where the target's cost model says it is faster),
        "on" (every pruned layer), "off" (all dense).
    input_shapes: {"input": (1, 3, 224, 224)} or ["input:1x3x224x224"]; a symbolic batch is `batch`.
    target_host: llvm host of a GPU target (name or JSON dict); cross_compiler: the C++ compiler
        that links the host code for a board (e.g. aarch64-linux-gnu-g++), with
        cross_compiler_options (one string); without it, code for a board is packed as object
        files that the board links when it loads them.
    output: NAME.tar, the package (library and meta.json, what `run` loads), or NAME.so, the
        bare shared library (tvm.runtime.load_module + relax.VirtualMachine).
    report: also write the compile report (JSON) here. progress: a callable(str) for status.
    tuning_records: a MetaSchedule database folder (from `tune`) applied before the collection's
        rules; None: the databases shipped in tuning_logs/ for this very target, if any; False:
        none (the collection's schedules alone).
    Output paths and the tools the build calls are checked before any work; every output is
    written, or none.
    """
    import tvm

    from .. import targets
    from ..outputs import output_set
    from ..relax.lowering import lower
    from ..relax.pipeline import unscheduled_gpu_functions
    from ..runtime import package
    from .toolchain import check_tools

    say = progress or (lambda msg: None)
    t0 = time.perf_counter()
    form = package.form_of(output) if output is not None else None
    target = targets.resolve(target, target_host)
    if cross_compiler_options and not cross_compiler:
        raise InputError("--cross-compiler-options needs --cross-compiler")
    with output_set(output, report) as out:          # every output checked before the work
        check_tools(target, cross_compiler, form)
        database, tuning, hint = tuning_database(tuning_records, target)
        if tuning:
            say(f"tuning records: {tuning}")
        elif hint:
            say(hint)
        # An OpenCL package carries its scheduled module (kernels replayed on PoCL): stop there, keep it.
        scheduled = None
        low = lower(model, target, sparse=sparse, input_shapes=input_shapes, batch=batch, database=database,
                    progress=say, stop_after="schedule" if target.family == "opencl" else "build")
        if target.family == "opencl":
            from ..relax.pipeline import finish_build

            scheduled, low.mod = low.mod, finish_build(low.mod, target, sparse)
        if target.is_gpu:
            unbound = unscheduled_gpu_functions(low.mod)
            if unbound:
                raise CompileError(f"{len(unbound)} kernel(s) got no GPU schedule and would run on the host: "
                                   f"{', '.join(unbound[:5])}")
        say("building")
        ex = _build(low.mod, target)
        rep = make_report(low.records, target.name, sparse, low.frontend, low.kernels, tuning)
        if hint:
            rep["tuning_hint"] = hint
        meta = {"target": target.as_dict(), "target_name": target.name, "target_host": target.host_dict(),
                "inputs": [i.as_dict() for i in low.inputs], "outputs": [o.as_dict() for o in low.outputs],
                "sparse": sparse, "report": rep, "kernels": low.kernels,
                "compile_seconds": round(time.perf_counter() - t0, 1)}
        result = CompileResult(ex, rep, meta)
        if output is not None:
            device_code = None
            if target.family == "cuda":
                from .cuda import compile_device_code

                say(f"compiling the CUDA device code for {target.cuda_arch} (nvcc)")
                device_code = compile_device_code(ex, target)
                meta["device_code"] = device_code.meta
            say(f"writing {output}")
            package.write(ex, out.path(output), meta, target, cross_compiler, cross_compiler_options,
                          ir=scheduled, form=form,
                          pack_imports=device_code.pack_imports if device_code else None)
            result.package = Path(output)
        if report is not None:
            out.path(report).write_text(json.dumps(rep, indent=1))
    return result


def _build(mod, target):
    """tvm.compile of a lowered module; TVM's failure (a limit of its backend) as one CompileError."""
    import tvm

    from ..interrupts import reraise_if_interrupt

    from .tir_pipeline import register

    tir = register() if target.family == "cpu" else "default"     # tir_pipeline.py
    try:
        return tvm.compile(mod, target=target.tvm(), relax_pipeline=tvm.transform.Sequential([]),
                           tir_pipeline=tir)
    except Exception as err:  # noqa: BLE001 - TVM's backends raise TVMError, InternalError, RuntimeError
        reraise_if_interrupt(err)
        lines = [ln.strip() for ln in str(err).splitlines()
                 if ln.strip() and not ln.strip().startswith(("File ", "Traceback"))]
        what = ": ".join(ln.rstrip(":") for ln in lines[:2]) or type(err).__name__
        raise CompileError(f"TVM cannot build the model for {target.name}: {what}") from None


def tuning_database(tuning_records, target):
    """(database or None, what it is, a hint when there is none) for compile's
    `tuning_records` argument (see compile)."""
    if tuning_records is False:
        return None, None, None
    if tuning_records is None:
        from ..tuning.shipped import open_shipped

        return open_shipped(target)
    from ..tuning.database import open_database

    return open_database(tuning_records, target), str(tuning_records), None
