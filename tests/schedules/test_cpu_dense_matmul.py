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


@pytest.mark.parametrize("m,k,f,split", [(1, 1280, 1000, True), (1, 1001, 300, True), (2, 1280, 1000, False),
                                         (1, 37, 10, False), (1, 40, 8192, False)])
def test_one_row_against_a_large_weight_splits_k(m, k, f, split):
    """Split K (an rfactor block of partial rows) only for one row, a weight of 1 MB or more, and
    a K that gives every part at least 8 rows (40 rows over 8 parts do not)."""
    from tvm import te
    from tvm_dsprune import targets
    from tvm_dsprune.schedules.common import child_blocks
    from tvm_dsprune.schedules.cpu.dense_matmul import DenseMatmul

    x, w = te.placeholder((m, k), name="x"), te.placeholder((k, f), name="w")
    r = te.reduce_axis((0, k), "k")
    mm = te.compute((m, f), lambda i, j: te.sum(x[i, r] * w[r, j], axis=r), name="matmul")
    sch = DenseMatmul().apply(te.create_prim_func([x, w, mm]), targets.resolve("llvm").tvm(), False)
    names = [sch.get(b).name_hint for b in child_blocks(sch)]
    assert any(n.startswith("matmul_rf") for n in names) == split, names
