"""FoldConstantChannels: Before/Expected structural tests, and a model built the way exporters
write them (weights in Constant nodes, odd channel counts, a residual add, a global pool and a
Gemm), compiled and compared with onnxruntime."""
import numpy as np
import onnx
import pytest
import tvm
from onnx import TensorProto, helper, numpy_helper
from tvm import relax

from conftest import run_ort
from relax_module import module
from tvm_dsprune.bench.timing import relative_error
from tvm_dsprune.build.compile import compile
from tvm_dsprune.relax.fold_constant_channels import FOLDED_ATTR, FoldConstantChannels
from tvm_dsprune.relax.layer_records import NAMES_ATTR
from tvm_dsprune.relax.lowering import lower
from tvm_dsprune.runtime.session import LoadedModel


def weights(shape, seed, dead_rows=()):
    w = np.random.default_rng(seed).standard_normal(shape).astype("float32")
    w[list(dead_rows)] = 0
    return w


def strip(mod):
    return mod.without_attr(FOLDED_ATTR).without_attr(NAMES_ATTR) if mod.attrs else mod


C = 6
W1 = weights((C, 4, 3, 3), 0, dead_rows=(1, 4))          # filter pruning emptied channels 1 and 4
B1 = np.array([0.5, -0.3, 0.2, 0.1, 2.0, -1.0], "float32").reshape(1, C, 1, 1)
W2 = weights((5, C, 1, 1), 1)
B2 = np.linspace(-1, 1, 5).astype("float32").reshape(1, 5, 1, 1)


def producer(bb, x):
    y = bb.emit(relax.op.nn.conv2d(x, relax.const(W1), padding=1))
    y = bb.emit(relax.op.add(y, relax.const(B1)))
    return bb.emit(relax.op.nn.relu(y))


def test_constant_channels_fold_into_the_next_1x1_convs_bias():
    def before(bb, x):
        y = bb.emit(relax.op.nn.conv2d(producer(bb, x), relax.const(W2)))
        return bb.emit(relax.op.add(y, relax.const(B2)))

    after = FoldConstantChannels()(module(before, (1, 4, 8, 8)))
    assert int(after.attrs[FOLDED_ATTR]) == 1

    value = np.maximum(B1.reshape(C), 0)                   # channel 1: relu(-0.3) = 0; channel 4: 2.0
    w2 = W2.copy()
    w2[:, [1, 4]] = 0
    b2 = (B2.reshape(5).astype(np.float64) + W2[:, 4, 0, 0].astype(np.float64) * value[4]).astype("float32")

    def expected(bb, x):
        y = bb.emit(relax.op.nn.conv2d(producer(bb, x), relax.const(w2)))
        return bb.emit(relax.op.add(y, relax.const(b2.reshape(1, 5, 1, 1))))
    tvm.ir.assert_structural_equal(strip(after), module(expected, (1, 4, 8, 8)))


def test_a_layer_without_a_bias_add_gets_one():
    def before(bb, x):
        return bb.emit(relax.op.nn.conv2d(producer(bb, x), relax.const(W2)))

    after = strip(FoldConstantChannels()(module(before, (1, 4, 8, 8))))
    w2 = W2.copy()
    w2[:, [1, 4]] = 0
    owed = (W2[:, 4, 0, 0].astype(np.float64) * 2.0).astype("float32").reshape(1, 5, 1, 1)

    def expected(bb, x):
        y = relax.op.nn.conv2d(producer(bb, x), relax.const(w2))
        return bb.emit(relax.op.add(y, relax.const(owed)))
    tvm.ir.assert_structural_equal(after, module(expected, (1, 4, 8, 8)))


@pytest.mark.parametrize("consumer", ["padded 1x1", "3x3", "gated by a tensor", "bias along the width"])
def test_what_is_not_proven_constant_is_left_alone(consumer):
    def before(bb, x):
        y = producer(bb, x)
        if consumer == "padded 1x1":           # the padded border reads zeros, not the constant
            y = bb.emit(relax.op.nn.conv2d(y, relax.const(W2), padding=1))
        elif consumer == "3x3":
            y = bb.emit(relax.op.nn.conv2d(y, relax.const(weights((5, C, 3, 3), 2)), padding=1))
        else:
            if consumer == "gated by a tensor":     # a squeeze-excite gate mixes the channels
                gate = bb.emit(relax.op.mean(y, axis=[2, 3], keepdims=True))
                gate = bb.emit(relax.op.nn.conv2d(gate, relax.const(weights((C, C, 1, 1), 3))))
                y = bb.emit(relax.op.multiply(y, bb.emit(relax.op.sigmoid(gate))))
            else:                                   # a [C] constant broadcasts along W (W == C here)
                y = bb.emit(relax.op.add(y, relax.const(np.arange(C, dtype="float32"))))
            y = bb.emit(relax.op.nn.conv2d(y, relax.const(W2)))
        return y

    after = FoldConstantChannels()(module(before, (1, 4, C, C)))
    convs = [b.value for b in after["main"].body.blocks[0].bindings
             if isinstance(b.value, relax.Call) and b.value.op.name == "relax.nn.conv2d"]
    consumers = [c.args[1].value.numpy() for c in convs if int(c.args[1].ty.shape[0]) == 5]
    assert len(consumers) == 1 and np.count_nonzero(consumers[0]) == consumers[0].size
    if consumer != "gated by a tensor":       # the gate's own 1x1 conv may fold its pooled input
        assert not (after.attrs and FOLDED_ATTR in after.attrs)


def exporter_model(path, seed=0):
    """Conv 3x3 (13 filters, 5 emptied, bias) -> Clip(0, 6) -> two 1x1 convs (one strided, one
    emptied in part) added as a residual -> a 1x1 conv that reads the sum -> GlobalAveragePool
    -> Flatten -> Gemm, weights in Constant nodes, BN-free as exporters fold it."""
    rng = np.random.default_rng(seed)
    nodes = []

    def const(name, a):
        nodes.append(helper.make_node("Constant", [], [name], value=numpy_helper.from_array(a.astype("float32"), name)))
        return name

    def conv(name, x, cout, cin, k=1, stride=1, dead=(), pad=None):
        w = rng.standard_normal((cout, cin, k, k)) * np.sqrt(2.0 / (cin * k * k))
        w[list(dead)] = 0
        b = rng.uniform(-1, 1, cout)
        p = k // 2 if pad is None else pad
        nodes.append(helper.make_node("Conv", [x, const(name + ".w", w), const(name + ".b", b)], [name],
                                      kernel_shape=[k, k], strides=[stride, stride], pads=[p] * 4))
        return name

    y = conv("stem", "x", 13, 3, k=3, stride=2, dead=(0, 3, 6, 7, 12))
    nodes.append(helper.make_node("Clip", [y, const("lo", np.array(0.0)), const("hi", np.array(6.0))], ["act"]))
    a = conv("pw_a", "act", 11, 13, dead=(2, 5, 9))
    b = conv("pw_b", "act", 11, 13, dead=(2, 9))              # a residual sum: 2 and 9 stay constant
    nodes.append(helper.make_node("Add", [a, b], ["sum"]))
    c = conv("pw_c", "sum", 17, 11, stride=2)                 # strided 1x1: still one value per channel
    d = conv("pw_pad", "act", 7, 13, pad=1)                   # padded 1x1: left alone
    nodes.append(helper.make_node("GlobalAveragePool", [c], ["pool"]))
    nodes.append(helper.make_node("Flatten", ["pool"], ["flat"]))
    nodes.append(helper.make_node("Gemm", ["flat", const("fc.w", rng.standard_normal((9, 17))),
                                           const("fc.b", rng.standard_normal(9))], ["logits"], transB=1))
    nodes.append(helper.make_node("GlobalAveragePool", [d], ["pool_d"]))
    nodes.append(helper.make_node("Flatten", ["pool_d"], ["side"]))
    graph = helper.make_graph(nodes, "exporter", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 30, 30])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 9]),
                               helper.make_tensor_value_info("side", TensorProto.FLOAT, [1, 7])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize("sparse", ["auto", "on"])
def test_exporter_shaped_model_equals_onnxruntime(tmp_path, sparse):
    model = exporter_model(tmp_path / "m.onnx")
    low = lower(model, "llvm", sparse=sparse, stop_after="fuse")
    assert int(low.mod.attrs[FOLDED_ATTR]) >= 2            # pw_a / pw_b read 5 constant channels, pw_c 2
    result = compile(model, "llvm", tmp_path / "m.tar", sparse=sparse)
    x = np.random.default_rng(1).standard_normal((1, 3, 30, 30)).astype("float32")
    outs = LoadedModel(result.package)({"x": x})
    import onnxruntime as ort

    refs = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    for y, ref in zip(outs.values(), refs):
        assert relative_error(y, ref) < 1e-5
    np.testing.assert_allclose(next(iter(outs.values())), run_ort(model, x), rtol=1e-4, atol=1e-4)


def test_sparse_off_keeps_the_model_as_it_is(tmp_path):
    low = lower(exporter_model(tmp_path / "m.onnx"), "llvm", sparse="off", stop_after="fuse")
    assert FOLDED_ATTR not in low.mod.attrs


def run(mod, x):
    return relax.VirtualMachine(tvm.compile(mod, "llvm"), tvm.cpu())["main"](tvm.runtime.tensor(x)).numpy()


def test_a_layer_read_elsewhere_too_keeps_a_separate_add():
    """The layer's output feeds its bias add and a concat: the concat must see what it owes."""
    def before(bb, x):
        y = bb.emit(relax.op.nn.conv2d(producer(bb, x), relax.const(W2)))
        z = bb.emit(relax.op.add(y, relax.const(B2)))
        return bb.emit(relax.op.concat([z, y], axis=1))

    mod = module(before, (1, 4, 8, 8))
    after = FoldConstantChannels()(mod)
    assert int(after.attrs[FOLDED_ATTR]) == 1
    x = np.random.default_rng(7).standard_normal((1, 4, 8, 8)).astype("float32")
    np.testing.assert_allclose(run(after, x), run(mod, x), rtol=1e-5, atol=1e-5)
