"""Other exporters' forms: weights through Constant / Identity / Cast are layers, pruned where
they are stored; shapes computed at run time fold for static inputs; BatchNorm and
ConvTranspose output_shape normalize; what TVM would import unfaithfully is refused. The
oracle is onnxruntime on the model as the user gave it."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import run_ort
from models import exporters
from tvm_dsprune.errors import InputError
from tvm_dsprune.frontend import import_limits, onnx_model
from tvm_dsprune.frontend.normalize import normalize, static_shapes
from tvm_dsprune.frontend.weights import constant_tensors
from tvm_dsprune.pruning.onnx_prune import prune


def layer_table(proto):
    return [(L.name, L.kind, L.position, L.shape) for L in onnx_model.find_layers(proto)[0]]


def test_weights_in_constant_nodes_identity_and_cast_are_layers():
    proto = exporters.constant_weights()
    layers, weights = onnx_model.find_layers(proto)
    assert [L.kind for L in layers].count("dw") == 3 and len(layers) == 12
    assert not any(L.unsupported for L in layers)
    stored = {L.weight_name for L in layers}
    assert "conv_4.w_stored" in stored                 # read through Identity
    assert "conv_5.w_fp16" in stored                   # an fp16 initializer read through Cast
    assert weights["conv_5.w_fp16"].dtype == np.float32
    consts = constant_tensors(proto)
    assert consts["conv_5.w"].stored == "conv_5.w_fp16" and consts["conv_0.w"].path == ("conv_0.w",)


def test_pruned_model_keeps_the_form_it_came_in(tmp_path):
    src = tmp_path / "m.onnx"
    onnx.save(exporters.constant_weights(), str(src))
    out = tmp_path / "p.onnx"
    result = prune(src, out, preset="deprune-bh", target="llvm", masks=tmp_path / "m.npz")
    before, after = onnx.load(str(src)), onnx.load(str(out))
    assert [(n.op_type, list(n.input), list(n.output)) for n in before.graph.node] == \
           [(n.op_type, list(n.input), list(n.output)) for n in after.graph.node]
    assert {i.name for i in before.graph.initializer} == {i.name for i in after.graph.initializer}
    w0 = {k: c.value for k, c in constant_tensors(before).items()}
    w1 = {k: c.value for k, c in constant_tensors(after).items()}
    pruned = [name for name, m in result.masks.items() if not m.all()]
    assert "conv_5.w_fp16" in pruned and any(n.endswith(".w") for n in pruned)
    for name, mask in result.masks.items():
        stored_after = next(c for c in constant_tensors(after).values() if c.name == name).value
        assert stored_after.dtype == next(c for c in constant_tensors(before).values() if c.name == name).value.dtype
        np.testing.assert_array_equal(stored_after != 0, (w0[name] != 0) & mask)
    assert all(np.array_equal(w0[k], w1[k]) for k in w0 if k not in pruned and not k.startswith("conv_5.w"))
    x = np.random.default_rng(0).standard_normal((1, 3, 32, 32)).astype(np.float32)
    assert np.isfinite(run_ort(out, x)).all()


@pytest.mark.parametrize("name", ["shape_computed", "detector", "constant_weights"])
def test_normalized_model_equals_the_original_and_has_the_same_layers(name, tmp_path):
    build, res = exporters.MODELS[name]
    proto = build(res)
    norm = normalize(proto, {"x": (1, 3, res, res)})
    ops = {n.op_type for n in norm.proto.graph.node}
    assert not ops & {"Shape", "Gather", "Slice", "Constant", "Identity", "Cast", "BatchNormalization"}
    assert layer_table(norm.proto) == layer_table(proto)
    assert all(len(v) == len(static_shapes(norm.proto)[k]) for k, v in static_shapes(norm.proto).items())
    onnx.save(proto, str(tmp_path / "a.onnx"))
    onnx.save(norm.proto, str(tmp_path / "b.onnx"))
    x = np.random.default_rng(1).standard_normal((1, 3, res, res)).astype(np.float32)
    ref = run_ort(tmp_path / "a.onnx", x)
    np.testing.assert_allclose(run_ort(tmp_path / "b.onnx", x), ref, rtol=1e-4, atol=1e-5 * np.abs(ref).max())
    assert norm.steps()


def conv_transpose_model(**attrs):
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "w")
    stats = [numpy_helper.from_array(v.astype(np.float32), n) for v, n in
             ((rng.uniform(0.5, 1.5, 3), "g"), (rng.uniform(-1, 1, 3), "b"), (rng.uniform(-1, 1, 3), "m"),
              (rng.uniform(0.5, 2, 3), "v"))]
    g = helper.make_graph([helper.make_node("ConvTranspose", ["x", "w"], ["t"], name="up", kernel_shape=[3, 3],
                                            strides=[2, 2], **attrs),
                           helper.make_node("BatchNormalization", ["t", "g", "b", "m", "v"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 9, 9])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w] + stats)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    return m


@pytest.mark.parametrize("attrs", [dict(output_shape=[18, 18]), dict(output_shape=[16, 16]),
                                   dict(output_shape=[18, 18], auto_pad="SAME_UPPER"), dict(pads=[1, 1, 0, 0])])
def test_conv_transpose_output_shape_becomes_pads_and_batchnorm_folds(attrs, tmp_path):
    proto = conv_transpose_model(**attrs)
    norm = normalize(proto, {"x": (1, 4, 9, 9)})
    assert [n.op_type for n in norm.proto.graph.node] == ["ConvTranspose"]
    assert norm.batchnorms == 1 and norm.output_shapes == ("output_shape" in attrs)
    assert not any(a.name == "output_shape" for a in norm.proto.graph.node[0].attribute)
    onnx.save(proto, str(tmp_path / "a.onnx"))
    onnx.save(norm.proto, str(tmp_path / "b.onnx"))
    x = np.random.default_rng(2).standard_normal((1, 4, 9, 9)).astype(np.float32)
    ref = run_ort(tmp_path / "a.onnx", x)
    np.testing.assert_allclose(run_ort(tmp_path / "b.onnx", x), ref, rtol=1e-5, atol=1e-5)


def resize_model(mode="linear", coord="half_pixel", scale=2.0, **attrs):
    g = helper.make_graph([helper.make_node("Resize", ["x", "", "s"], ["y"], name="up", mode=mode,
                                            coordinate_transformation_mode=coord, **attrs)], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 20, 20])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                          [numpy_helper.from_array(np.array([1, 1, scale, scale], np.float32), "s")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 19)])
    m.ir_version = 9
    return m


@pytest.mark.parametrize("kwargs,message", [
    (dict(scale=1.53), "dimension 2 of size 20 by 1.53"),
    (dict(scale=0.37, mode="nearest", coord="asymmetric"), "not a whole size"),
    (dict(scale=0.5, antialias=1), "antialias"),
])
def test_what_tvm_would_import_unfaithfully_is_refused_by_node(kwargs, message):
    proto = resize_model(**kwargs)
    with pytest.raises(InputError, match=message) as err:
        import_limits.check(proto, static_shapes(proto))
    assert "Resize node 'up'" in str(err.value)


@pytest.mark.parametrize("kwargs", [dict(scale=2.0), dict(scale=1.5), dict(scale=1.53, coord="align_corners")])
def test_faithful_resizes_pass(kwargs):
    proto = resize_model(**kwargs)
    import_limits.check(proto, static_shapes(proto))
