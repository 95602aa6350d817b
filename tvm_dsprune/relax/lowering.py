"""The one lowering path: ONNX model -> Relax -> sparsified, fused and scheduled module.

`compile`, the PoCL harness and tuning all start here and differ only in what they do with the
result: build it, replay its kernels, or tune its fused functions. The layer records travel
with the module (layer_records.py) and are read back from it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError
from ..frontend.model_io import TensorInfo, onnx_inputs, onnx_output_names, parse_shapes
from ..interrupts import reraise_if_interrupt
from .layer_records import LayerRecord, kernels, records, with_kernel_calls, with_layer_names


@dataclass
class Lowered:
    mod: object = field(repr=False)      # tvm.IRModule at the requested stage
    target: object                       # targets.Target
    records: list[LayerRecord]
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]
    sparse: str
    stage: str
    kernels: list[dict] = field(default_factory=list)     # call order: kernel and layer
    frontend: list[str] = field(default_factory=list)     # what normalization changed (frontend/normalize.py)


def import_onnx(proto, inputs: list[TensorInfo]):
    """The ONNX model (normalized: frontend/normalize.py) as a Relax module with static input
    shapes, the layer names attached. A model that still computes a shape at run time is
    refused here, with the op that does, not later in legalization."""
    import contextlib
    import io
    import warnings

    from tvm.relax.frontend.onnx import from_onnx

    from ..frontend.onnx_model import layer_index

    try:
        # the importer re-runs onnx's checker (warnings) and prints the node it failed on: our
        # message says it once
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            mod = from_onnx(proto, shape_dict={i.name: list(i.shape) for i in inputs}, keep_params_in_input=False)
    except Exception as err:  # noqa: BLE001 - the importer raises anything for unsupported graphs
        reraise_if_interrupt(err)
        raise InputError(f"the ONNX model cannot be imported into Relax: {type(err).__name__}: {err}") from None
    dynamic = run_time_shapes(mod)
    if dynamic:
        raise InputError(f"the ONNX model computes {len(dynamic)} tensor shape(s) at run time that stay unknown "
                         f"for static input shapes (first: {dynamic[0]}); TVM compiles static shapes only")
    return with_layer_names(mod, layer_index(proto))


def run_time_shapes(mod) -> list[str]:
    """The bindings of `main` whose tensor shape is not a constant, as `op -> shape`."""
    from tvm import relax, tirx

    out = []
    for block in mod["main"].body.blocks:
        for b in block.bindings:
            ty = b.var.ty
            if not isinstance(ty, relax.TensorType):
                continue
            dims = getattr(ty.shape, "values", None)
            if dims is None or not all(isinstance(d, tirx.IntImm) for d in dims):
                v = b.value
                op = v.op.name if isinstance(v, relax.Call) and hasattr(v.op, "name") else type(v).__name__
                out.append(f"{op} -> {ty.shape}")
    return out


def lower(model, target, *, sparse: str = "auto", input_shapes=None, batch: int = 1, database=None,
          stop_after: str = "build", progress=None) -> Lowered:
    """Import `model` (path or onnx.ModelProto) and run the target's pipeline to `stop_after`
    ("fuse", "schedule" or "build"; see pipeline.build_pipeline). `target` is anything
    targets.resolve takes; `database` a MetaSchedule database applied before the rules."""
    from .. import targets
    from ..frontend import onnx_model
    from ..frontend import import_limits
    from ..frontend.normalize import normalize, static_shapes
    from ..kernels.script import fast_inspect
    from .pipeline import run_stages, stage_passes

    fast_inspect()                 # TVMScript parsing of the kernels walks inspect.stack()
    say = progress or (lambda msg: None)
    proto = onnx_model.load(model) if isinstance(model, (str, Path)) else model
    shapes = input_shapes if isinstance(input_shapes, dict) else parse_shapes(input_shapes)
    inputs = onnx_inputs(proto, shapes, batch)
    target = targets.resolve(target)
    stages = stage_passes(target, sparse, database)
    norm = normalize(proto, {i.name: i.shape for i in inputs})
    import_limits.check(norm.proto, static_shapes(norm.proto))
    say(f"importing {len(norm.proto.graph.node)} ONNX nodes" + "".join(f"; {s}" for s in norm.steps()))
    mod = import_onnx(norm.proto, inputs)
    outputs = output_infos(mod, proto)
    say(f"sparsify, fuse and schedule for {target.name}")

    def after(stage, m):
        return with_kernel_calls(m) if stage == "schedule" else m

    mod = run_stages(mod, target, stages, stop_after, database, after)
    return Lowered(mod, target, records(mod), inputs, outputs, sparse, stop_after, kernels(mod), norm.steps())


def output_infos(mod, proto) -> list[TensorInfo]:
    from tvm import relax

    ret = mod["main"].ret_ty if hasattr(mod["main"], "ret_ty") else mod["main"].ty.ret
    tys = list(ret.fields) if isinstance(ret, relax.TupleType) else [ret]
    names = onnx_output_names(proto)
    return [TensorInfo(names[i] if i < len(names) else f"output{i}", tuple(int(d) for d in t.shape), str(t.dtype))
            for i, t in enumerate(tys)]
