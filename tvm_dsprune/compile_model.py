"""compile(): a (pruned) ONNX model in, a package for the target out.

    ONNX -> Relax import (static shapes) -> fold BN / constants -> SparsifyDepthwise +
    SparsifyDense -> legalize / fuse -> schedule collection (+ dlight on GPUs) -> build -> .tar

The report lists every conv / dense layer: dense or sparse, density, format, kernel, and why.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import targets
from .errors import InputError
from .model_io import TensorInfo, onnx_inputs, onnx_output_names, parse_shapes

log = logging.getLogger(__name__)

SPARSE_MODES = ("auto", "on", "off")


class CompileError(RuntimeError):
    """The model could not be built for the target (not bad input: a limit of the compiler)."""


@dataclass
class CompileResult:
    executable: object = field(repr=False)
    report: dict
    meta: dict
    package: Path | None = None


def _layer_names(proto):
    from .pruning import onnx_model
    from .relax.layer_records import LayerNames, weight_key

    names = LayerNames()
    layers, weights = onnx_model.find_layers(proto)
    for layer in layers:
        names.order[layer.name] = layer.position
        if layer.weight_name in weights:
            names.by_key[weight_key(weights[layer.weight_name])] = layer.name
    return names


def _resolve_host(target_host):
    if target_host is None:
        return None
    if isinstance(target_host, str) and target_host.strip().startswith("{"):
        try:
            return json.loads(target_host)
        except json.JSONDecodeError as err:
            raise InputError(f"--target-host {target_host!r} is not valid JSON: {err}") from None
    if isinstance(target_host, str):
        return {"kind": target_host.strip()}
    return dict(target_host)


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
    from tvm.relax.frontend.onnx import from_onnx

    from .pruning import onnx_model
    from .relax import pipeline as pl

    say = progress or (lambda msg: None)
    if sparse not in SPARSE_MODES:
        raise InputError(f"--sparse {sparse!r}: choose auto, on or off")
    t0 = time.perf_counter()
    proto = onnx_model.load(model) if isinstance(model, (str, Path)) else model
    shapes = input_shapes if isinstance(input_shapes, dict) else parse_shapes(input_shapes)
    inputs = onnx_inputs(proto, shapes, batch)
    spec = targets.resolve(target)
    host = _resolve_host(target_host)
    tvm_target = pl.tvm_target(spec, host)
    database = _database(tuning_records, tvm_target) if tuning_records else None

    say(f"importing {len(proto.graph.node)} ONNX nodes")
    try:
        mod = from_onnx(proto, shape_dict={i.name: list(i.shape) for i in inputs}, keep_params_in_input=False)
    except Exception as err:  # noqa: BLE001 - the importer raises anything for unsupported graphs
        raise InputError(f"the ONNX model cannot be imported into Relax: {type(err).__name__}: {err}") from None
    records: list = []
    names = _layer_names(proto)
    pipeline = pl.build_pipeline(spec, tvm_target, sparse, names, records, database)
    say(f"sparsify, fuse and schedule for {spec.name}")
    mod = pipeline(mod)
    if "gpu" in tvm_target.keys:
        unbound = pl.unscheduled_gpu_functions(mod)
        if unbound:
            raise CompileError(f"{len(unbound)} kernel(s) got no GPU schedule and would run on the host: "
                               f"{', '.join(unbound[:5])}")
    say("building")
    ex = tvm.compile(mod, target=tvm_target, relax_pipeline=tvm.transform.Sequential([]))
    outputs = _output_infos(mod, proto)
    rep = _report(names.sort(records), spec.name, sparse)
    meta = {"target": pl.target_dict(tvm_target), "target_name": spec.name,
            "target_host": dict(host) if host else (dict(spec.host) if spec.host and spec.target["kind"] != "llvm" else {}),
            "inputs": [i.as_dict() for i in inputs], "outputs": [o.as_dict() for o in outputs],
            "sparse": sparse, "report": rep, "compile_seconds": round(time.perf_counter() - t0, 1)}
    result = CompileResult(ex, rep, meta)
    if output is not None:
        from . import package

        say(f"writing {output}")
        result.package = package.write(ex, output, meta, cross_compiler)
    if report is not None:
        from .outputs import output_set

        with output_set() as out:
            out.path(report).write_text(json.dumps(rep, indent=1))
    return result


def _output_infos(mod, proto) -> list[TensorInfo]:
    from tvm import relax

    ret = mod["main"].ret_ty if hasattr(mod["main"], "ret_ty") else mod["main"].ty.ret
    tys = list(ret.fields) if isinstance(ret, relax.TupleType) else [ret]
    names = onnx_output_names(proto)
    out = []
    for i, t in enumerate(tys):
        name = names[i] if i < len(names) else f"output{i}"
        out.append(TensorInfo(name, tuple(int(d) for d in t.shape), str(t.dtype)))
    return out


def _report(records, target_name: str, sparse: str) -> dict:
    rows = [r.as_dict() for r in records]
    sparse_rows = [r for r in rows if r["decision"] == "sparse"]
    return {"target": target_name, "sparse_mode": sparse, "layers": rows,
            "summary": {"layers": len(rows), "sparse": len(sparse_rows),
                        "compact": sum(1 for r in rows if r["decision"] == "compact"),
                        "dense_pruned": sum(1 for r in rows if r["decision"] == "dense" and r["density"] < 1.0),
                        "by_op": {op: sum(1 for r in sparse_rows if r["op"] == op) for op in ("dw", "pw", "conv", "fc")}}}


def format_report(rep: dict) -> str:
    head = ("layer", "op", "shape", "density", "kernel", "format / reason")
    rows = []
    for r in rep["layers"]:
        detail = r["reason"] if r["decision"] == "dense" else r["format"]
        rows.append((r["name"], r["op"], "x".join(map(str, r["shape"])), f"{r['density']:.2f}",
                     r["decision"], detail))
    widths = [min(max(len(h), *(len(x[i]) for x in rows)) if rows else len(h), 48 if i == 0 else 200)
              for i, h in enumerate(head)]

    def fmt(cells):
        cells = list(cells)
        if len(cells[0]) > widths[0]:
            cells[0] = "…" + cells[0][-(widths[0] - 1):]
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()

    s = rep["summary"]
    lines = [fmt(head), fmt("-" * w for w in widths)] + [fmt(r) for r in rows]
    lines.append(f"\n{s['sparse']} of {s['layers']} conv/dense layers sparse "
                 f"({', '.join(f'{k} {v}' for k, v in s['by_op'].items() if v) or 'none'}); "
                 + (f"{s['compact']} compact (dense kernel on the kept filters); " if s["compact"] else "")
                 + f"{s['dense_pruned']} pruned layers kept dense")
    return "\n".join(lines)


def _database(path, tvm_target):
    from .tuning_db import open_database

    return open_database(path, tvm_target)
