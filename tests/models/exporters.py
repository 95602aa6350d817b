"""Depthwise-separable models written the way other exporters write them, built here with
onnx.helper (seeded random weights, unfolded BatchNorm with non-trivial statistics).

- constant_weights: weights and BN parameters as `Constant` nodes (paddle2onnx and others),
  one weight read through `Identity`, one stored as fp16 and `Cast` to fp32, hard-swish as
  HardSigmoid x Mul, the classifier as MatMul + Add;
- shape_computed: a channel shuffle and a flatten on shapes computed at run time
  (`Shape -> Gather -> Unsqueeze -> Concat -> Reshape` as torch writes it, `Shape -> Slice ->
  Concat -> Reshape` as tf2onnx writes it), channels split with `Split`;
- detector: a DB text detector as PaddleOCR builds it (MobileNet-V3 backbone, FPN with nearest
  `Resize` by scales and by computed sizes, 3x3 convs, a head with two ConvTranspose 2x2
  stride 2 and a Sigmoid), at 320x320 or more;
- squeeze_excite: a depthwise conv with a squeeze-excite gate of 2 squeeze channels.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


class Writer:
    """Nodes and weights of one graph; `store` says where weights live: "initializer",
    "constant" (a Constant node each), "identity" (an initializer read through Identity) or
    "cast" (an fp16 initializer read through Cast)."""

    def __init__(self, seed: int = 0, store: str = "initializer"):
        self.rng = np.random.default_rng(seed)
        self.store = store
        self.nodes: list = []
        self.inits: list = []
        self.counts: Counter = Counter()

    def fresh(self, prefix: str) -> str:
        self.counts[prefix] += 1
        return f"{prefix}_{self.counts[prefix] - 1}"

    def const(self, array: np.ndarray, name: str, store: str | None = None) -> str:
        store = store or self.store
        array = np.asarray(array)
        if store == "constant":
            self.nodes.append(helper.make_node("Constant", [], [name], name=f"{name}_const",
                                               value=numpy_helper.from_array(array, name)))
            return name
        if store == "cast":
            self.inits.append(numpy_helper.from_array(array.astype(np.float16), f"{name}_fp16"))
            self.nodes.append(helper.make_node("Cast", [f"{name}_fp16"], [name], to=TensorProto.FLOAT))
            return name
        if store == "identity":
            self.inits.append(numpy_helper.from_array(array, f"{name}_stored"))
            self.nodes.append(helper.make_node("Identity", [f"{name}_stored"], [name]))
            return name
        self.inits.append(numpy_helper.from_array(array, name))
        return name

    def ints(self, values, name: str | None = None) -> str:
        return self.const(np.asarray(values, np.int64), name or self.fresh("ints"), "constant")

    def node(self, op: str, inputs: list[str], outputs: int = 1, name: str | None = None, **attrs):
        name = name or self.fresh(op.lower())
        outs = [f"{name}_out{i}" if outputs > 1 else f"{name}_out" for i in range(outputs)]
        self.nodes.append(helper.make_node(op, inputs, outs, name=name, **attrs))
        return outs if outputs > 1 else outs[0]

    def conv(self, x: str, cin: int, cout: int, k: int = 1, stride: int = 1, groups: int = 1,
             bias: bool = False, store: str | None = None) -> str:
        name = self.fresh("conv")
        w = self.rng.standard_normal((cout, cin // groups, k, k)) * np.sqrt(2.0 / (cin // groups * k * k))
        inputs = [x, self.const(w.astype(np.float32), f"{name}.w", store)]
        if bias:
            inputs.append(self.const(self.rng.uniform(-0.1, 0.1, cout).astype(np.float32), f"{name}.b", store))
        return self.node("Conv", inputs, name=name, kernel_shape=[k, k], strides=[stride, stride],
                         pads=[k // 2] * 4, group=groups)

    def bn(self, x: str, c: int, store: str | None = None) -> str:
        name = self.fresh("bn")
        r = self.rng
        params = [r.uniform(0.5, 1.5, c), r.uniform(-0.2, 0.2, c), r.uniform(-0.2, 0.2, c), r.uniform(0.5, 2.0, c)]
        inputs = [x] + [self.const(p.astype(np.float32), f"{name}.{k}", store)
                        for p, k in zip(params, ("scale", "bias", "mean", "var"))]
        return self.node("BatchNormalization", inputs, name=name, epsilon=1e-5)

    def act(self, x: str, kind: str | None) -> str:
        if kind is None:
            return x
        if kind == "relu":
            return self.node("Relu", [x])
        if kind == "relu6":
            return self.node("Clip", [x, self.const(np.float32(0), self.fresh("min"), "initializer"),
                                      self.const(np.float32(6), self.fresh("max"), "initializer")])
        if kind == "hardswish":                   # paddle2onnx: x * hardsigmoid(x)
            return self.node("Mul", [x, self.node("HardSigmoid", [x], alpha=1 / 6, beta=0.5)])
        if kind == "sigmoid":
            return self.node("Sigmoid", [x])
        raise ValueError(kind)

    def conv_bn_act(self, x, cin, cout, k=1, stride=1, groups=1, act="relu", store=None) -> str:
        return self.act(self.bn(self.conv(x, cin, cout, k, stride, groups, store=store), cout, store), act)

    def dw_separable(self, x, cin, hidden, cout, k=3, stride=1, act="relu", se: int = 0) -> str:
        """1x1 expand -> depthwise kxk -> (squeeze-excite) -> 1x1 project, residual when shapes allow."""
        y = self.conv_bn_act(x, cin, hidden, 1, act=act) if hidden != cin else x
        y = self.conv_bn_act(y, hidden, hidden, k, stride, groups=hidden, act=act)
        if se:
            y = self.squeeze_excite(y, hidden, se)
        y = self.conv_bn_act(y, hidden, cout, 1, act=None)
        return self.node("Add", [x, y]) if stride == 1 and cin == cout else y

    def squeeze_excite(self, x: str, c: int, squeeze: int) -> str:
        s = self.node("GlobalAveragePool", [x])
        s = self.act(self.conv(s, c, squeeze, bias=True), "relu")
        s = self.conv(s, squeeze, c, bias=True)
        return self.node("Mul", [x, self.node("HardSigmoid", [s], alpha=0.2, beta=0.5)])

    def classifier(self, x: str, c: int, classes: int, store: str | None = None) -> str:
        """GlobalAveragePool -> Flatten -> MatMul + Add (as paddle2onnx writes a Linear)."""
        f = self.node("Flatten", [self.node("GlobalAveragePool", [x])], axis=1)
        w = self.rng.standard_normal((c, classes)) / np.sqrt(c)
        y = self.node("MatMul", [f, self.const(w.astype(np.float32), self.fresh("fc") + ".w", store)])
        return self.node("Add", [y, self.const(self.rng.uniform(-0.1, 0.1, classes).astype(np.float32),
                                               self.fresh("fc") + ".b", store)])

    def model(self, x_shape, y: str | list[str], opset: int = 13, dynamic_batch: bool = True) -> onnx.ModelProto:
        shape = ["N", *x_shape[1:]] if dynamic_batch else list(x_shape)
        outs = [y] if isinstance(y, str) else y
        graph = helper.make_graph(self.nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                                  [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outs],
                                  self.inits)
        m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="tests.exporters")
        m.ir_version = 8
        calibrate(m, tuple(x_shape), self.rng)
        return m


def calibrate(m: onnx.ModelProto, x_shape: tuple, rng) -> None:
    """Set every BatchNormalization's mean and variance to the statistics of its input on
    random images, as a trained model's would be: activations keep a realistic range through
    the depth, which keeps the numerical checks meaningful. BatchNorms are calibrated in
    waves (onnxruntime), each wave once every BatchNorm it depends on is."""
    import onnxruntime as ort

    from tvm_dsprune.frontend.weights import constant_tensors, store, stored_value

    producer = {o: n for n in m.graph.node for o in n.output}
    bns = [n for n in m.graph.node if n.op_type == "BatchNormalization"]

    def upstream(bn) -> set[str]:
        seen, stack, found = set(), [bn.input[0]], set()
        while stack:
            t = stack.pop()
            if t in seen or t not in producer:
                continue
            seen.add(t)
            node = producer[t]
            if node.op_type == "BatchNormalization":
                found.add(node.output[0])
            stack.extend(node.input)
        return found

    deps = {bn.output[0]: upstream(bn) for bn in bns}
    done: set[str] = set()
    x = rng.standard_normal((2, *x_shape[1:])).astype(np.float32)
    while len(done) < len(bns):
        wave = [bn for bn in bns if bn.output[0] not in done and deps[bn.output[0]] <= done]
        probe = onnx.ModelProto()
        probe.CopyFrom(m)
        probe.graph.output.extend(helper.make_tensor_value_info(b.input[0], TensorProto.FLOAT, None) for b in wave)
        sess = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
        for bn, v in zip(wave, sess.run([b.input[0] for b in wave], {"x": x})):
            var = v.var((0, 2, 3))
            var = np.maximum(var, 1e-3 * max(float(np.median(var)), 1e-6))
            for name, stat in ((bn.input[3], v.mean((0, 2, 3))), (bn.input[4], var)):
                stored = constant_tensors(m)[name].stored
                store(m, stored, stat.astype(stored_value(m, stored).dtype))
            done.add(bn.output[0])


def constant_weights(res: int = 32) -> onnx.ModelProto:
    w = Writer(seed=1, store="constant")
    y = w.conv_bn_act("x", 3, 16, 3, 2, act="hardswish")
    y = w.dw_separable(y, 16, 48, 24, 3, act="relu")
    # one weight read through Identity, one stored as fp16 and Cast (other exporters' forms)
    y = w.conv_bn_act(y, 24, 64, 1, act="relu", store="identity")
    y = w.conv_bn_act(y, 64, 64, 5, 2, groups=64, act="relu", store="cast")
    y = w.conv_bn_act(y, 64, 32, 1, act=None)
    y = w.dw_separable(y, 32, 96, 32, 3, act="hardswish")
    y = w.conv_bn_act(y, 32, 64, 1, act="hardswish")
    return w.model((1, 3, res, res), w.classifier(y, 64, 10))


def _shuffle_torch_style(w: Writer, x: str, groups: int) -> str:
    """Shape -> Gather -> Unsqueeze -> Concat -> Reshape, Transpose, the same back."""
    shape = w.node("Shape", [x])
    dims = [w.node("Unsqueeze", [w.node("Gather", [shape, w.ints(i)], axis=0), w.ints([0])]) for i in range(4)]
    per_group = w.node("Div", [dims[1], w.ints([groups])])
    five = w.node("Concat", [dims[0], w.ints([groups]), per_group, dims[2], dims[3]], axis=0)
    y = w.node("Transpose", [w.node("Reshape", [x, five])], perm=[0, 2, 1, 3, 4])
    four = w.node("Concat", [dims[0], w.ints([-1]), dims[2], dims[3]], axis=0)
    return w.node("Reshape", [y, four])


def _shuffle_tf_style(w: Writer, x: str, groups: int, channels: int) -> str:
    """Shape -> Slice -> Concat -> Reshape (tf2onnx's form)."""
    shape = w.node("Shape", [x])
    batch = w.node("Slice", [shape, w.ints([0]), w.ints([1])])
    hw = w.node("Slice", [shape, w.ints([2]), w.ints([4])])
    five = w.node("Concat", [batch, w.ints([groups, channels // groups]), hw], axis=0)
    y = w.node("Transpose", [w.node("Reshape", [x, five])], perm=[0, 2, 1, 3, 4])
    return w.node("Reshape", [y, w.node("Concat", [batch, w.ints([channels]), hw], axis=0)])


def _shuffle_unit(w: Writer, x: str, c: int, style: str) -> str:
    a, b = w.node("Split", [x, w.ints([c // 2, c // 2])], outputs=2, axis=1)
    b = w.conv_bn_act(b, c // 2, c // 2, 1)
    b = w.conv_bn_act(b, c // 2, c // 2, 3, groups=c // 2, act=None)
    b = w.conv_bn_act(b, c // 2, c // 2, 1)
    y = w.node("Concat", [a, b], axis=1)
    return _shuffle_torch_style(w, y, 2) if style == "torch" else _shuffle_tf_style(w, y, 2, c)


def shape_computed(res: int = 32) -> onnx.ModelProto:
    w = Writer(seed=2)
    y = w.conv_bn_act("x", 3, 48, 3, 2)
    y = _shuffle_unit(w, y, 48, "torch")
    y = w.conv_bn_act(y, 48, 48, 3, 2, groups=48, act=None)
    y = w.conv_bn_act(y, 48, 80, 1)
    y = _shuffle_unit(w, y, 80, "tf")
    # flatten on a computed shape: Reshape(x, Concat(Gather(Shape(x), 0), [-1]))
    p = w.node("GlobalAveragePool", [y])
    batch = w.node("Unsqueeze", [w.node("Gather", [w.node("Shape", [p]), w.ints(0)], axis=0), w.ints([0])])
    f = w.node("Reshape", [p, w.node("Concat", [batch, w.ints([-1])], axis=0)])
    fc = w.rng.standard_normal((10, 80)) / np.sqrt(80)
    out = w.node("Gemm", [f, w.const(fc.astype(np.float32), "fc.w"), w.const(np.zeros(10, np.float32), "fc.b")],
                 transB=1)
    return w.model((1, 3, res, res), out)


def _upsample_nearest(w: Writer, x: str, scale: int = 2) -> str:
    """paddle2onnx's nearest upsampling: Resize by scales, asymmetric coordinates, floor."""
    scales = w.const(np.array([1, 1, scale, scale], np.float32), w.fresh("scales"))
    return w.node("Resize", [x, "", scales], mode="nearest", coordinate_transformation_mode="asymmetric",
                  nearest_mode="floor")


def _resize_like(w: Writer, x: str, like: str, mode: str = "linear") -> str:
    """torch's interpolate(size=like.shape[2:]): sizes computed from Shape (half_pixel)."""
    hw = w.node("Slice", [w.node("Shape", [like]), w.ints([2]), w.ints([4])])
    nc = w.node("Slice", [w.node("Shape", [x]), w.ints([0]), w.ints([2])])
    sizes = w.node("Concat", [nc, hw], axis=0)
    return w.node("Resize", [x, "", "", sizes], mode=mode, coordinate_transformation_mode="half_pixel")


def _divisible(v: float, d: int = 8) -> int:
    new = max(d, int(v + d / 2) // d * d)
    return new + d if new < 0.9 * v else new


# MobileNet-V3-Large: kernel, expanded c, output c, squeeze-excite, activation, stride
MV3_LARGE = [(3, 16, 16, False, "relu", 1), (3, 64, 24, False, "relu", 2), (3, 72, 24, False, "relu", 1),
             (5, 72, 40, True, "relu", 2), (5, 120, 40, True, "relu", 1), (5, 120, 40, True, "relu", 1),
             (3, 240, 80, False, "hardswish", 2), (3, 200, 80, False, "hardswish", 1),
             (3, 184, 80, False, "hardswish", 1), (3, 184, 80, False, "hardswish", 1),
             (3, 480, 112, True, "hardswish", 1), (3, 672, 112, True, "hardswish", 1),
             (5, 672, 160, True, "hardswish", 2), (5, 960, 160, True, "hardswish", 1),
             (5, 960, 160, True, "hardswish", 1)]


def detector(res: int = 320, scale: float = 0.5, fpn: int = 96, se: bool = True, blocks=None,
             seed: int = 3) -> onnx.ModelProto:
    """A DB text detector as PaddleOCR builds it and paddle2onnx writes it: MobileNet-V3-Large
    backbone (`scale` x channels) with outputs at strides 4, 8, 16, 32; an FPN of `fpn`
    channels (lateral 1x1 convs, nearest x2 upsampling adds, 3x3 convs, nearest x8 / x4 / x2
    to stride 4, concat); the DB head (3x3 conv, ConvTranspose 2x2 stride 2 twice, Sigmoid).
    One upsampling goes by sizes computed from Shape, as torch exports interpolate(size=...).
    `blocks`: the indices of the backbone blocks to keep (None: all 15)."""
    w = Writer(seed=seed)
    cin = _divisible(16 * scale)
    y = w.conv_bn_act("x", 3, cin, 3, 2, act="hardswish")
    feats, channels = [], []
    for i, (k, exp, c, use_se, act, stride) in enumerate(MV3_LARGE):
        if blocks is not None and i not in blocks:
            continue
        if stride == 2 and i > 2:
            feats.append(y)
            channels.append(cin)
        mid, cout = _divisible(scale * exp), _divisible(scale * c)
        y = w.dw_separable(y, cin, mid, cout, k, stride, act=act, se=mid // 4 if use_se and se else 0)
        cin = cout
    last = _divisible(scale * 960)
    feats.append(w.conv_bn_act(y, cin, last, 1, act="hardswish"))
    channels.append(last)
    ins = [w.conv(f, c, fpn, 1) for f, c in zip(feats, channels)]
    out4 = w.node("Add", [ins[2], _upsample_nearest(w, ins[3])])
    out3 = w.node("Add", [ins[1], _resize_like(w, out4, ins[1], "nearest")])
    out2 = w.node("Add", [ins[0], _upsample_nearest(w, out3)])
    p = [w.conv(t, fpn, fpn // 4, 3) for t in (ins[3], out4, out3, out2)]
    fuse = w.node("Concat", [_upsample_nearest(w, p[0], 8), _upsample_nearest(w, p[1], 4),
                             _upsample_nearest(w, p[2], 2), p[3]], axis=1)
    q = fpn // 4
    h = w.conv_bn_act(fuse, fpn, q, 3)
    up1 = (w.rng.standard_normal((q, q, 2, 2)) * np.sqrt(1.0 / q)).astype(np.float32)
    h = w.node("ConvTranspose", [h, w.const(up1, "head.conv2.w"), w.const(np.zeros(q, np.float32), "head.conv2.b")],
               kernel_shape=[2, 2], strides=[2, 2])
    h = w.act(w.bn(h, q), "relu")
    up2 = (w.rng.standard_normal((q, 1, 2, 2)) * np.sqrt(0.5 / q)).astype(np.float32)
    h = w.node("ConvTranspose", [h, w.const(up2, "head.conv3.w"), w.const(np.zeros(1, np.float32), "head.conv3.b")],
               kernel_shape=[2, 2], strides=[2, 2])
    return w.model((1, 3, res, res), w.act(h, "sigmoid"))


def squeeze_excite(res: int = 16) -> onnx.ModelProto:
    w = Writer(seed=4)
    y = w.conv_bn_act("x", 3, 16, 3, 1)
    y = w.dw_separable(y, 16, 16, 24, 3, se=2)
    y = w.dw_separable(y, 24, 48, 24, 3, se=2)
    return w.model((1, 3, res, res), w.classifier(y, 24, 10))


def small_detector(res: int = 320) -> onnx.ModelProto:
    """The detector with one backbone block per stage and a 32-channel FPN: every operator and
    resolution of the full one, a fraction of its layers (fast tests)."""
    return detector(res, scale=0.35, fpn=32, blocks=(0, 1, 3, 4, 6, 10, 12))


MODELS = {"constant_weights": (constant_weights, 32), "shape_computed": (shape_computed, 32),
          "detector": (small_detector, 320), "squeeze_excite": (squeeze_excite, 16)}


def save(name: str, folder: Path, res: int | None = None) -> Path:
    build, default = MODELS[name]
    path = Path(folder) / f"{name}.onnx"
    onnx.save(build(res or default), str(path))
    return path
