"""The frontend: one definition of a layer, the index that names layers after import, MACs."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from tvm_dsprune.errors import InputError
from tvm_dsprune.frontend import arrays, onnx_model


def test_layer_index_names_every_layer_by_its_weight(zoo_onnx):
    proto = onnx_model.load(zoo_onnx("tiny"))
    layers, weights = onnx_model.find_layers(proto)
    index = onnx_model.layer_index(proto)
    assert len(index) == len(layers)
    for layer in layers:
        assert index[onnx_model.weight_key(weights[layer.weight_name])] == (layer.name, layer.position)


def test_model_macs_counts_nonzero_weights_times_output_pixels(tmp_path):
    rng = np.random.default_rng(0)
    dw = rng.standard_normal((8, 1, 3, 3)).astype("float32")
    dw[:, :, 0, :] = 0                                        # 24 of 72 weights pruned
    pw = rng.standard_normal((16, 8, 1, 1)).astype("float32")
    fc = rng.standard_normal((16, 5)).astype("float32")
    g = helper.make_graph(
        [helper.make_node("Conv", ["x", "dw"], ["a"], group=8, pads=[1, 1, 1, 1], strides=[2, 2]),
         helper.make_node("Conv", ["a", "pw"], ["b"]),
         helper.make_node("GlobalAveragePool", ["b"], ["c"]),
         helper.make_node("Flatten", ["c"], ["d"]),
         helper.make_node("MatMul", ["d", "fc"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 10, 10])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 5])],
        [numpy_helper.from_array(a, n) for a, n in ((dw, "dw"), (pw, "pw"), (fc, "fc"))])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    path = tmp_path / "m.onnx"
    onnx.save(m, path)
    assert onnx_model.model_macs(path) == 48 * 25 + 128 * 25 + 80


def test_arrays_name_the_file_in_messages(tmp_path):
    (tmp_path / "x.npz").write_text("nope")
    with pytest.raises(InputError, match="^inputs .* is not a .npz archive"):
        arrays.load(tmp_path / "x.npz", "inputs")
    np.savez(tmp_path / "o.npz", a=np.array([object()], dtype=object))
    with pytest.raises(InputError, match="other than plain arrays"):
        arrays.load(tmp_path / "o.npz", "mask file")
    arrays.save(tmp_path / "ok.npz", {"a": np.arange(3)})
    assert arrays.load(tmp_path / "ok.npz")["a"].tolist() == [0, 1, 2]
