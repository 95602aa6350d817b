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


def import_onnx(proto, inputs: list[TensorInfo]):
    """The ONNX model as a Relax module with static input shapes, the layer names attached."""
    from tvm.relax.frontend.onnx import from_onnx

    from ..frontend.onnx_model import layer_index

    try:
        mod = from_onnx(proto, shape_dict={i.name: list(i.shape) for i in inputs}, keep_params_in_input=False)
    except Exception as err:  # noqa: BLE001 - the importer raises anything for unsupported graphs
        reraise_if_interrupt(err)
        raise InputError(f"the ONNX model cannot be imported into Relax: {type(err).__name__}: {err}") from None
    return with_layer_names(mod, layer_index(proto))


def lower(model, target, *, sparse: str = "auto", input_shapes=None, batch: int = 1, database=None,
          stop_after: str = "build", progress=None) -> Lowered:
    """Import `model` (path or onnx.ModelProto) and run the target's pipeline to `stop_after`
    ("fuse", "schedule" or "build"; see pipeline.build_pipeline). `target` is anything
    targets.resolve takes; `database` a MetaSchedule database applied before the rules."""
    from .. import targets
    from ..frontend import onnx_model
    from ..kernels.script import fast_inspect
    from .pipeline import run_stages, stage_passes

    fast_inspect()                 # TVMScript parsing of the kernels walks inspect.stack()
    say = progress or (lambda msg: None)
    proto = onnx_model.load(model) if isinstance(model, (str, Path)) else model
    shapes = input_shapes if isinstance(input_shapes, dict) else parse_shapes(input_shapes)
    inputs = onnx_inputs(proto, shapes, batch)
    target = targets.resolve(target)
    stages = stage_passes(target, sparse, database)
    say(f"importing {len(proto.graph.node)} ONNX nodes")
    mod = import_onnx(proto, inputs)
    outputs = output_infos(mod, proto)
    say(f"sparsify, fuse and schedule for {target.name}")

    def after(stage, m):
        return with_kernel_calls(m) if stage == "schedule" else m

    mod = run_stages(mod, target, stages, stop_after, database, after)
    return Lowered(mod, target, records(mod), inputs, outputs, sparse, stop_after, kernels(mod))


def output_infos(mod, proto) -> list[TensorInfo]:
    from tvm import relax

    ret = mod["main"].ret_ty if hasattr(mod["main"], "ret_ty") else mod["main"].ty.ret
    tys = list(ret.fields) if isinstance(ret, relax.TupleType) else [ret]
    names = onnx_output_names(proto)
    return [TensorInfo(names[i] if i < len(names) else f"output{i}", tuple(int(d) for d in t.shape), str(t.dtype))
            for i, t in enumerate(tys)]
