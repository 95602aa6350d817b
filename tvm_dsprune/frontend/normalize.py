"""The model the compiler imports: other exporters' forms normalized, shapes folded for static inputs.

Relax's ONNX importer needs every shape static: a `Reshape` whose shape is computed at run time
(`Shape -> Gather/Slice -> Concat -> Reshape`, as in a channel shuffle or a flatten) is refused,
or crashes later in legalization. Once the input shapes are fixed, every such shape is known,
and normalize() folds it into a constant before import:

- the input dimensions are made static;
- onnx's own shape inference gives every tensor's shape; `Shape` / `Size` of a tensor with a
  static shape become constants;
- every node whose inputs are all constant (shape arithmetic, `Constant` nodes, weights read
  through `Identity` or `Cast`) is evaluated by onnx's reference implementation and becomes an
  initializer of the same name; this repeats until nothing changes, and dead nodes go;
- a BatchNormalization right after a Conv or ConvTranspose is folded into its weight and bias,
  keeping the layer name, so the compile report names the layers the mask step names;
- a ConvTranspose's `output_shape`, which the importer ignores, becomes explicit pads.

Why onnx's shape inference and reference evaluator, and not onnxruntime's graph optimizer or
an ONNX simplifier: they come with onnx (no new dependency, no version pin to fight), and they
change only what is constant. onnxruntime's optimized model also fuses and renames weights
(Conv+Add, Conv+Mul) in ways that change with its version; onnxsim is a native package with its
own onnx pins. The graph the compiler imports stays the user's graph, nodes and names.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

# Ops never evaluated at compile time: random (different every run), or holding subgraphs.
NOT_FOLDED = {"RandomNormal", "RandomNormalLike", "RandomUniform", "RandomUniformLike", "Multinomial",
              "Bernoulli", "Loop", "If", "Scan", "SequenceConstruct", "Dropout"}
MAX_FOLDED_ELEMENTS = 1 << 22        # a folded tensor is stored in the model: no giant ones


@dataclass
class Normalized:
    proto: object = field(repr=False)            # onnx.ModelProto, a normalized copy
    folded: Counter = field(default_factory=Counter)      # op type -> nodes folded to constants
    batchnorms: int = 0                          # BatchNormalization folded into convs
    output_shapes: int = 0                       # ConvTranspose output_shape made pads
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)

    def steps(self) -> list[str]:
        """What normalization changed, in words (the compile report's `frontend`)."""
        out = []
        shape_ops = sum(n for op, n in self.folded.items() if op != "Constant")
        if shape_ops:
            ops = ", ".join(f"{op} {n}" for op, n in self.folded.most_common() if op != "Constant")
            inputs = ", ".join(f"{k}:{'x'.join(map(str, v))}" for k, v in self.shapes.items())
            out.append(f"folded {shape_ops} node(s) with constant inputs for the static input shapes "
                       f"{inputs} ({ops})")
        if self.folded.get("Constant"):
            out.append(f"{self.folded['Constant']} Constant node(s) made initializers")
        if self.batchnorms:
            out.append(f"{self.batchnorms} BatchNormalization node(s) folded into their convs")
        if self.output_shapes:
            out.append(f"{self.output_shapes} ConvTranspose output_shape(s) written as pads")
        return out


def normalize(proto, shapes: dict[str, tuple[int, ...]]) -> Normalized:
    """A normalized copy of `proto` for static input `shapes` ({input name: shape})."""
    import onnx

    p = onnx.ModelProto()
    p.CopyFrom(proto)
    result = Normalized(p, shapes=dict(shapes))
    set_input_shapes(p, shapes)
    while _fold_once(p, result.folded):
        pass
    remove_dead_nodes(p)
    result.batchnorms = fold_batchnorms(p)
    result.output_shapes = conv_transpose_output_shapes(p, static_shapes(p))
    return result


def set_input_shapes(proto, shapes: dict[str, tuple[int, ...]]) -> None:
    for inp in proto.graph.input:
        if inp.name not in shapes:
            continue
        dims = inp.type.tensor_type.shape.dim
        for d, v in zip(dims, shapes[inp.name]):
            d.Clear()
            d.dim_value = int(v)


def static_shapes(proto) -> dict[str, tuple[int, ...]]:
    """Every tensor whose shape onnx's shape inference fully knows."""
    import onnx

    try:
        inferred = onnx.shape_inference.infer_shapes(proto, data_prop=True)
    except Exception:  # noqa: BLE001 - inference gives up on some custom ops; fold what is known
        inferred = proto
    out = {}
    g = inferred.graph
    for vi in list(g.input) + list(g.value_info) + list(g.output):
        t = vi.type.tensor_type
        if not t.HasField("shape"):
            continue
        dims = t.shape.dim
        if all(d.HasField("dim_value") and d.dim_value >= 0 for d in dims):
            out[vi.name] = tuple(int(d.dim_value) for d in dims)
    for init in g.initializer:
        out[init.name] = tuple(int(d) for d in init.dims)
    return out


def _opset(proto) -> int:
    """The model's version of the default ONNX domain."""
    return next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), 13)


def _fold_once(proto, folded: Counter) -> bool:
    """One pass of folding: Shape / Size of static shapes, nodes with constant inputs. True if
    anything was folded."""
    from onnx import numpy_helper

    from .weights import constant_node_value

    inits = {i.name: i for i in proto.graph.initializer}
    values: dict[str, np.ndarray] = {}

    def value_of(name):
        if name not in values:
            values[name] = numpy_helper.to_array(inits[name])
        return values[name]

    shapes = static_shapes(proto)
    keep, changed = [], False
    for node in proto.graph.node:
        out = None
        if node.domain not in ("", "ai.onnx") or node.op_type in NOT_FOLDED:
            keep.append(node)
            continue
        if node.op_type == "Constant":
            out = [constant_node_value(node)]
        elif node.op_type in ("Shape", "Size") and node.input[0] in shapes:
            out = [_shape_value(node, shapes[node.input[0]])]
        elif node.input and all(not i or i in inits or i in values for i in node.input):
            out = _evaluate(proto, node, {i: value_of(i) for i in node.input if i})
        if out is None or any(v is None or v.size > MAX_FOLDED_ELEMENTS for v in out):
            keep.append(node)
            continue
        for name, v in zip(node.output, out):
            if name:
                values[name] = np.asarray(v)
                proto.graph.initializer.append(numpy_helper.from_array(values[name], name))
        folded[node.op_type] += 1
        changed = True
    if changed:
        keep = [_copy(n) for n in keep]
        del proto.graph.node[:]
        proto.graph.node.extend(keep)
    return changed


def _copy(message):
    out = type(message)()
    out.CopyFrom(message)
    return out


def _shape_value(node, shape: tuple[int, ...]) -> np.ndarray:
    if node.op_type == "Size":
        return np.asarray(int(np.prod(shape)), np.int64)
    import onnx

    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    rank = len(shape)
    start, end = attrs.get("start", 0), attrs.get("end", rank)
    start = min(max(start + rank if start < 0 else start, 0), rank)
    end = min(max(end + rank if end < 0 else end, 0), rank)
    return np.asarray(shape[start:end], np.int64)


def _evaluate(proto, node, feeds: dict[str, np.ndarray]) -> list[np.ndarray] | None:
    """The outputs of one node on constant inputs, by onnx's reference implementation (None if
    it cannot evaluate the node)."""
    from onnx.reference import ReferenceEvaluator

    try:
        ev = ReferenceEvaluator(node, opsets={"": _opset(proto)})
        return [np.asarray(v) for v in ev.run(None, feeds)]
    except Exception:  # noqa: BLE001 - an op the reference cannot run is left for the importer
        return None


def remove_dead_nodes(proto) -> None:
    """Drop nodes none of whose outputs is read (by a node or as a graph output), and
    initializers nothing reads."""
    needed = {o.name for o in proto.graph.output}
    keep = []
    for node in reversed(proto.graph.node):
        if any(o in needed for o in node.output if o):
            keep.append(node)
            needed.update(i for i in node.input if i)
            for a in node.attribute:          # names a subgraph reads from the outer scope
                for g in ([a.g] if a.HasField("g") else []) + list(a.graphs):
                    for n in g.node:
                        needed.update(n.input)
    keep = [_copy(n) for n in reversed(keep)]
    del proto.graph.node[:]
    proto.graph.node.extend(keep)
    init_names = {i.name for i in proto.graph.initializer}
    for field_name, removable in (("initializer", init_names), ("input", init_names)):
        items = getattr(proto.graph, field_name)
        kept = [_copy(x) for x in items if x.name in needed or x.name not in removable]
        del items[:]
        items.extend(kept)


def fold_batchnorms(proto) -> int:
    """Fold every BatchNormalization that alone reads a Conv's or ConvTranspose's output into
    it: W' = W * s (per output channel), b' = (b - mean) * s + beta, s = gamma / sqrt(var + eps).
    The conv keeps its layer name (its node name, or its old output name when it had none).
    Returns how many were folded."""
    import onnx
    from onnx import numpy_helper

    inits = {i.name: i for i in proto.graph.initializer}
    readers: Counter = Counter(i for n in proto.graph.node for i in n.input)
    readers.update(o.name for o in proto.graph.output)
    producer = {o: n for n in proto.graph.node for o in n.output}
    taken = set(inits) | {o for n in proto.graph.node for o in n.output}
    removed = set()
    for index, bn in enumerate(proto.graph.node):
        if bn.op_type != "BatchNormalization" or any(bn.output[1:]):
            continue
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in bn.attribute}
        conv = producer.get(bn.input[0])
        if attrs.get("training_mode", 0) or conv is None or conv.op_type not in ("Conv", "ConvTranspose") \
                or readers[bn.input[0]] != 1:
            continue
        params = bn.input[1:5]
        bias_name = conv.input[2] if len(conv.input) > 2 else ""
        if len(conv.input) < 2 or conv.input[1] not in inits or not all(p in inits for p in params) \
                or (bias_name and bias_name not in inits):
            continue
        w = numpy_helper.to_array(inits[conv.input[1]])
        if w.dtype != np.float32 or w.ndim < 3:
            continue
        gamma, beta, mean, var = (numpy_helper.to_array(inits[p]).astype(np.float64) for p in params)
        s = gamma / np.sqrt(var + float(attrs.get("epsilon", 1e-5)))
        w2 = (w.astype(np.float64) * _per_output_channel(conv, w, s)).astype(np.float32)
        b = numpy_helper.to_array(inits[bias_name]).astype(np.float64) if bias_name else np.zeros(len(s))
        b2 = ((b - mean) * s + beta).astype(np.float32)
        names = [_fresh(f"{conv.input[1]}_bn", taken), _fresh(f"{bn.output[0]}_bias", taken)]
        proto.graph.initializer.extend([numpy_helper.from_array(w2, names[0]), numpy_helper.from_array(b2, names[1])])
        if not conv.name:
            conv.name = conv.output[0]
        del conv.input[1:]
        conv.input.extend(names)
        conv.output[0] = bn.output[0]
        removed.add(index)
    if removed:
        keep = [_copy(n) for i, n in enumerate(proto.graph.node) if i not in removed]
        del proto.graph.node[:]
        proto.graph.node.extend(keep)
        remove_dead_nodes(proto)
    return len(removed)


def _per_output_channel(conv, w: np.ndarray, s: np.ndarray) -> np.ndarray:
    """`s` (one factor per output channel) shaped to multiply the conv's weight: Conv weights
    are [C_out, C_in / g, k...]; ConvTranspose weights [C_in, C_out / g, k...], grouped."""
    import onnx

    if conv.op_type == "Conv":
        return s.reshape(-1, *([1] * (w.ndim - 1)))
    group = next((onnx.helper.get_attribute_value(a) for a in conv.attribute if a.name == "group"), 1)
    per_group = w.shape[1]
    factors = s.reshape(group, 1, per_group, *([1] * (w.ndim - 2)))
    return np.broadcast_to(factors, (group, w.shape[0] // group, *w.shape[1:])).reshape(w.shape)


def conv_transpose_output_shapes(proto, shapes: dict[str, tuple[int, ...]]) -> int:
    """Rewrite every ConvTranspose's `output_shape` into explicit pads, as the ONNX spec and
    onnxruntime compute them (total = stride * (in - 1) + output_padding + (k - 1) * dilation +
    1 - out; the odd pixel goes to the start, or to the end under SAME_UPPER): Relax's importer
    ignores output_shape. A requested size larger than the natural one stays (import_limits refuses it).
    Returns how many were rewritten."""
    import onnx

    count = 0
    for node in proto.graph.node:
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type != "ConvTranspose" or "output_shape" not in attrs or node.input[0] not in shapes:
            continue
        spatial = shapes[node.input[0]][2:]
        n = len(spatial)
        out = list(attrs["output_shape"])[-n:]
        kernel = list(attrs.get("kernel_shape") or shapes.get(node.input[1], (0, 0) + (1,) * n)[2:])
        stride, dil = list(attrs.get("strides", [1] * n)), list(attrs.get("dilations", [1] * n))
        adj = list(attrs.get("output_padding", [0] * n))
        auto = attrs.get("auto_pad", b"NOTSET")
        auto = auto.decode() if isinstance(auto, bytes) else auto
        totals = [stride[i] * (spatial[i] - 1) + adj[i] + (kernel[i] - 1) * dil[i] + 1 - out[i] for i in range(n)]
        if any(t < 0 for t in totals):
            continue
        head = [t // 2 if auto == "SAME_UPPER" else t - t // 2 for t in totals]
        pads = head + [t - h for t, h in zip(totals, head)]
        keep = [a for a in node.attribute if a.name not in ("output_shape", "auto_pad", "pads")]
        del node.attribute[:]
        node.attribute.extend(keep)
        node.attribute.append(onnx.helper.make_attribute("pads", pads))
        count += 1
    return count


def _fresh(name: str, taken: set[str]) -> str:
    out, i = name, 1
    while out in taken:
        out, i = f"{name}_{i}", i + 1
    taken.add(out)
    return out
