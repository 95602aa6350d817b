"""The CPU matmul rule (classifiers: Gemm / MatMul after the pooled features) against onnxruntime,
for a classifier's shape (K split across the cores), a K that does not split evenly, a batch, and
widths that are not a multiple of the vector lanes."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from tvm_dsprune.build.compile import compile
from tvm_dsprune.runtime.session import LoadedModel

from conftest import run_ort


def gemm_model(m, k, f, seed=0):
    rng = np.random.default_rng(seed)
    g = helper.make_graph(
        [helper.make_node("Gemm", ["x", "w", "b"], ["y"], transB=1)], "fc",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [m, k])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [m, f])],
        [numpy_helper.from_array(rng.standard_normal((f, k)).astype("float32"), "w"),
         numpy_helper.from_array(rng.standard_normal(f).astype("float32"), "b")])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model


@pytest.mark.parametrize("m,k,f", [(1, 1280, 1000), (1, 1001, 300), (3, 96, 40), (1, 37, 10), (2, 64, 21)])
def test_classifier_matmul_equals_onnxruntime(tmp_path, m, k, f):
    path = tmp_path / "fc.onnx"
    onnx.save(gemm_model(m, k, f), str(path))
    compile(path, "llvm", tmp_path / "fc.tar")
    x = np.random.default_rng(1).standard_normal((m, k)).astype("float32")
    y = LoadedModel(tmp_path / "fc.tar")({"x": x})["y"]
    ref = run_ort(path, x)
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())
