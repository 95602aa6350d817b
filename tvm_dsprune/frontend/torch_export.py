"""Export a torch module to ONNX the way the whole project expects it.

The TorchScript exporter (dynamo=False) in eval mode folds BatchNorm into the convs; the batch
dimension is dynamic so one file serves batch 1 and batch 32. Initializers that constant
folding renamed to `onnx::Conv_N` get their module's name back (`features.1.conv.0.0.weight`),
so masks, reports and torch parameter names agree.
"""
from __future__ import annotations

import warnings
from pathlib import Path

from torch import nn

from ..outputs import output_set


def export_onnx(model: nn.Module, path: str | Path, input_shape=(1, 3, 224, 224), opset: int = 13) -> Path:
    import onnx
    import torch

    path = Path(path)
    x = torch.zeros(*input_shape)
    with output_set() as out:
        tmp = out.path(path)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(model.eval(), (x,), str(tmp), input_names=["input"],
                              output_names=["output"], opset_version=opset, dynamo=False,
                              do_constant_folding=True,
                              dynamic_axes={"input": {0: "N"}, "output": {0: "N"}})
        proto = onnx.load(str(tmp))
        restore_initializer_names(proto, model)
        onnx.save(proto, str(tmp))
    return path


def module_path(node_name: str) -> str:
    """'/features/features.1/conv/conv.0/Conv' -> 'features.1.conv.0' (TorchScript scope names)."""
    segments = [s for s in node_name.split("/") if s][:-1]
    path, prev = "", ""
    for seg in segments:
        if prev and seg.startswith(prev + "."):
            path += seg[len(prev):]
        else:
            path = f"{path}.{seg}" if path else seg
        prev = seg
    return path


def restore_initializer_names(proto, model: nn.Module) -> None:
    modules = dict(model.named_modules())
    inits = {i.name: i for i in proto.graph.initializer}
    renames: dict[str, str] = {}
    taken = set(inits)
    for node in proto.graph.node:
        if node.op_type != "Conv":
            continue
        path = module_path(node.name)
        if not isinstance(modules.get(path), nn.Conv2d):
            continue
        for idx, suffix in ((1, "weight"), (2, "bias")):
            if idx < len(node.input) and node.input[idx].startswith("onnx::") and node.input[idx] in inits:
                new = f"{path}.{suffix}"
                if new not in taken:
                    renames[node.input[idx]] = new
                    taken.add(new)
    for old, new in renames.items():
        inits[old].name = new
    for node in proto.graph.node:
        for i, name in enumerate(node.input):
            if name in renames:
                node.input[i] = renames[name]
