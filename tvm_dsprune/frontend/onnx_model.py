"""ONNX models: load, find the prunable layers (for the mask step and the compiler alike), apply masks."""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..pruning.layers import Layer

# Ops a channel passes through unchanged on its way from one conv to the next: if a PW conv's
# output reaches a depthwise conv through these only, the PW conv "feeds" that DW conv.
PASS_THROUGH = {
    "Relu", "Clip", "Sigmoid", "HardSigmoid", "HardSwish", "Mul", "Add", "Sub", "Div",
    "BatchNormalization", "Identity", "LeakyRelu", "Tanh", "Elu", "Selu", "PRelu", "Cast",
    "Max", "Min", "Pad", "Gelu", "Softplus", "Mish", "Neg", "Abs", "Dropout", "Swish",
}


def load(path: str | Path):
    """Load an ONNX model; one clear InputError for a missing, unreadable or non-ONNX file."""
    import onnx
    from google.protobuf.message import DecodeError

    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if not path.is_file():
        raise InputError(f"{path}: not a file")
    try:
        proto = onnx.load(str(path))
    except (DecodeError, ValueError, RuntimeError, OSError) as err:
        raise InputError(f"{path} is not an ONNX model ({type(err).__name__}: {err})") from None
    if proto.ir_version <= 0 or len(proto.graph.node) == 0:
        raise InputError(f"{path} is not an ONNX model (no graph nodes)")
    return proto


def _attr(node, name, default):
    import onnx

    for a in node.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return default


def find_layers(proto) -> tuple[list[Layer], dict[str, np.ndarray]]:
    """Every Conv / Gemm / MatMul with its kind, and the constant weights they read, by the name
    of the tensor that stores them (weights.py: an initializer or a Constant node, read directly,
    through Identity or through a Cast)."""
    from .weights import constant_tensors

    constants = constant_tensors(proto)
    uses: dict[str, int] = defaultdict(int)
    consumers: dict[str, list] = defaultdict(list)
    for node in proto.graph.node:
        for i, name in enumerate(node.input):
            uses[name] += 1
            consumers[name].append((node, i))
    for out in proto.graph.output:
        uses[out.name] += 1

    layers: list[Layer] = []
    weights: dict[str, np.ndarray] = {}
    by_node: dict[int, Layer] = {}
    for node in proto.graph.node:
        if node.op_type not in ("Conv", "Gemm", "MatMul"):
            continue
        name = node.name or node.output[0]
        w_idx = 1
        src = constants.get(node.input[w_idx]) if len(node.input) > w_idx else None
        if src is None:
            layers.append(Layer(name, "fc" if node.op_type != "Conv" else "conv",
                                node.input[w_idx] if len(node.input) > w_idx else "", (),
                                position=len(layers),
                                unsupported="weight is computed in the graph, not a constant: kept dense"))
            continue
        wname, w = src.stored, src.value
        layer = _classify(node, name, wname, w)
        layer.position = len(layers)
        shared = max(uses[t] for t in src.path)
        if not layer.unsupported and shared > 1:
            layer.unsupported = f"weight {wname} is shared by {shared} uses: kept dense"
        if not layer.unsupported and not np.issubdtype(w.dtype, np.floating):
            layer.unsupported = f"weight dtype {w.dtype} is not floating point: kept dense"
        if not layer.unsupported:
            weights[wname] = w
        layers.append(layer)
        by_node[id(node)] = layer

    dw_nodes = {id(n) for n in proto.graph.node if by_node.get(id(n)) is not None and by_node[id(n)].kind == "dw"}
    for node in proto.graph.node:
        layer = by_node.get(id(node))
        if layer is not None and layer.kind == "pw":
            layer.feeds_dw = _reaches_dw(node.output[0], consumers, dw_nodes)
    return layers, weights


def _classify(node, name, wname, w) -> Layer:
    shape = tuple(int(d) for d in w.shape)
    if node.op_type == "Conv":
        if w.ndim != 4:
            return Layer(name, "conv", wname, shape, unsupported=f"{w.ndim - 2}-D conv: only 2-D convs are pruned")
        group = int(_attr(node, "group", 1))
        if group == 1:
            kind = "pw" if shape[2] == shape[3] == 1 else "conv"
            return Layer(name, kind, wname, shape)
        if shape[1] == 1 and shape[0] == group:
            return Layer(name, "dw", wname, shape)
        return Layer(name, "grouped", wname, shape)
    if w.ndim != 2:
        return Layer(name, "fc", wname, shape, unsupported=f"{w.ndim}-D weight: only 2-D dense weights are pruned")
    if node.op_type == "Gemm":
        if int(_attr(node, "transA", 0)):
            return Layer(name, "fc", wname, shape, unsupported="Gemm with transA=1 is not pruned")
        return Layer(name, "fc", wname, shape, transposed=not int(_attr(node, "transB", 0)))
    return Layer(name, "fc", wname, shape, transposed=True)   # MatMul: X[., K] @ W[K, N]


def _reaches_dw(tensor: str, consumers, dw_nodes) -> bool:
    seen, stack = set(), [tensor]
    while stack:
        t = stack.pop()
        if t in seen:
            continue
        seen.add(t)
        for node, idx in consumers.get(t, ()):
            if id(node) in dw_nodes and idx == 0:
                return True
            if node.op_type in PASS_THROUGH:
                stack.extend(node.output)
    return False


def apply_masks(proto, masks: dict[str, np.ndarray]) -> None:
    """Zero the pruned weights in place, where the model stores them (an initializer or a
    Constant node), in their stored dtype: stored = stored * mask."""
    from .weights import store, stored_value

    for name, mask in masks.items():
        if np.all(mask):
            continue
        w = stored_value(proto, name)
        store(proto, name, np.where(mask, w, np.zeros((), w.dtype)).astype(w.dtype))


def weight_key(array: np.ndarray) -> str:
    """A content key that finds a layer from its constant weight after import (the Relax
    importer keeps the values of the weights, not their names)."""
    import hashlib

    a = np.ascontiguousarray(array)
    return hashlib.sha1(a.tobytes() + str(a.shape).encode()).hexdigest()


def layer_index(proto) -> dict[str, tuple[str, int]]:
    """weight_key -> (layer name, position in the model) for every layer with a constant weight."""
    layers, weights = find_layers(proto)
    return {weight_key(weights[L.weight_name]): (L.name, L.position) for L in layers
            if L.weight_name in weights}


def layer_macs(model) -> dict[str, int]:
    """Multiply-adds of one image through every Conv / Gemm / MatMul with a constant weight,
    counting only the non-zero weights (a pruned model's arithmetic, from its masks), by layer
    name (the names find_layers gives). Shapes come from the model normalized for batch 1
    (normalize.py), so layers after shapes computed at run time are counted too."""
    from .model_io import onnx_inputs
    from .normalize import normalize, static_shapes
    from .weights import constant_tensors

    proto = load(model) if isinstance(model, (str, Path)) else model
    try:
        proto = normalize(proto, {i.name: i.shape for i in onnx_inputs(proto, None, 1)}).proto
    except InputError:
        pass                        # a symbolic dimension besides the batch: count what is known
    shapes = static_shapes(proto)
    constants = constant_tensors(proto)
    out = {}
    for node in proto.graph.node:
        if node.op_type not in ("Conv", "Gemm", "MatMul") or len(node.input) < 2 or node.input[1] not in constants:
            continue
        nnz = int(np.count_nonzero(constants[node.input[1]].value))
        shape = shapes.get(node.output[0])
        if not shape or any(d <= 0 for d in shape):
            continue
        pixels = int(np.prod(shape[2:])) * shape[0] if node.op_type == "Conv" else int(np.prod(shape[:-1]))
        out[node.name or node.output[0]] = nnz * pixels
    return out


def model_macs(model) -> int:
    """The sum of layer_macs: the model's multiply-adds of one image."""
    return sum(layer_macs(model).values())
