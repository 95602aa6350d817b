"""Where an ONNX model keeps a constant tensor, whatever exporter wrote it.

A Conv / Gemm / MatMul reads its weight as an initializer (TorchScript), as the output of a
`Constant` node (paddle2onnx and others), through `Identity`, or as a `Cast` of a stored tensor
(fp16 weights read as fp32). `constant_tensors` resolves each constant tensor a node may read
to the tensor that stores it. The mask step keys masks by the stored tensor and writes the
pruned values back where they were stored, so a pruned model keeps the form it came in.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PASS_THROUGH_CONSTANT = ("Identity", "Cast")


@dataclass(frozen=True)
class ConstantTensor:
    name: str                    # the tensor a node reads
    stored: str                  # the initializer, or the Constant node output, holding the values
    path: tuple[str, ...]        # the tensors from `stored` to `name` (Identity / Cast in between)
    value: np.ndarray            # the values as the reading node sees them (after any Cast)


def constant_node_value(node) -> np.ndarray | None:
    """The value of a `Constant` node (any of its value attributes), or None for sparse / string ones."""
    import onnx
    from onnx import numpy_helper

    for a in node.attribute:
        if a.name == "value":
            return numpy_helper.to_array(a.t)
        if a.name in ("value_float", "value_int"):
            return np.asarray(onnx.helper.get_attribute_value(a),
                              np.float32 if a.name == "value_float" else np.int64)
        if a.name in ("value_floats", "value_ints"):
            return np.asarray(list(onnx.helper.get_attribute_value(a)),
                              np.float32 if a.name == "value_floats" else np.int64)
    return None


def constant_tensors(proto) -> dict[str, ConstantTensor]:
    """Every tensor of the graph whose value is fixed: initializers, Constant node outputs, and
    Identity / Cast of those, by name."""
    import onnx
    from onnx import numpy_helper

    out: dict[str, ConstantTensor] = {}
    for init in proto.graph.initializer:
        out[init.name] = ConstantTensor(init.name, init.name, (init.name,), numpy_helper.to_array(init))
    for node in proto.graph.node:
        if node.op_type == "Constant" and node.domain in ("", "ai.onnx"):
            value = constant_node_value(node)
            if value is not None:
                out[node.output[0]] = ConstantTensor(node.output[0], node.output[0], (node.output[0],), value)
        elif node.op_type in PASS_THROUGH_CONSTANT and node.domain in ("", "ai.onnx") \
                and node.input and node.input[0] in out:
            src = out[node.input[0]]
            value = src.value
            if node.op_type == "Cast":
                to = next(onnx.helper.get_attribute_value(a) for a in node.attribute if a.name == "to")
                value = value.astype(onnx.helper.tensor_dtype_to_np_dtype(to))
            out[node.output[0]] = ConstantTensor(node.output[0], src.stored, src.path + (node.output[0],), value)
    return out


def stored_value(proto, name: str) -> np.ndarray:
    """The values stored under `name` (an initializer or a Constant node output), as stored."""
    from onnx import numpy_helper

    for init in proto.graph.initializer:
        if init.name == name:
            return numpy_helper.to_array(init)
    node = _constant_node(proto, name)
    if node is None:
        raise KeyError(name)
    return constant_node_value(node)


def store(proto, name: str, value: np.ndarray) -> None:
    """Replace the values stored under `name` in place, where they are stored."""
    import onnx
    from onnx import numpy_helper

    for i, init in enumerate(proto.graph.initializer):
        if init.name == name:
            proto.graph.initializer[i].CopyFrom(numpy_helper.from_array(value, name))
            return
    node = _constant_node(proto, name)
    if node is None:
        raise KeyError(name)
    del node.attribute[:]
    node.attribute.append(onnx.helper.make_attribute("value", numpy_helper.from_array(value, name)))


def _constant_node(proto, output: str):
    return next((n for n in proto.graph.node if n.op_type == "Constant" and n.output[0] == output), None)
