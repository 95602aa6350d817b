"""Dense depthwise convs through the DR kernel's CPU form with every tap (the plane kernel):
numerics against onnxruntime on odd shapes, and where the CPU cost model sends a layer."""
import sys
from pathlib import Path

import numpy as np
import pytest

from tvm_dsprune.build.compile import compile
from tvm_dsprune.runtime.session import LoadedModel

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / ".." / "tools"))
from bench_dw import layer_onnx  # noqa: E402  (the benchmark's own layer, so the two agree)

from conftest import run_ort  # noqa: E402


def dw_layer(tmp_path, c, hw, stride, k, seed=0, zero_tap=False):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((c, 1, k, k)).astype("float32")
    if zero_tap:                      # one zero weight: not "pruned" enough to go sparse
        w[0, 0, 0, 0] = 0
    path = tmp_path / f"dw{c}_{hw}_{stride}_{k}.onnx"
    path.write_bytes(layer_onnx(w, rng.standard_normal(c).astype("float32"), hw, stride))
    return path, rng.standard_normal((1, c, hw, hw)).astype("float32")


@pytest.mark.parametrize("c,hw,stride,k", [
    (37, 17, 1, 3),       # odd channels (not a multiple of the DR group), 289 output pixels
    (24, 33, 2, 3),       # stride 2, odd size: the last row / column phases differ
    (19, 23, 2, 5),       # 5x5 stride 2
    (8, 31, 1, 5),        # 5x5 stride 1, width not a multiple of the vector lanes
])
def test_plane_kernel_runs_dense_depthwise_convs_as_onnxruntime(tmp_path, c, hw, stride, k):
    path, x = dw_layer(tmp_path, c, hw, stride, k, zero_tap=(c == 37))
    result = compile(path, "llvm", tmp_path / "m.tar")
    layer = result.report["layers"][0]
    assert layer["decision"] == "dense" and layer["format"] == f"every tap of {k}x{k} (CPU plane kernel)"
    y = LoadedModel(tmp_path / "m.tar")({"x": x})["z"]
    ref = run_ort(path, x)
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5 * np.abs(ref).max())


@pytest.mark.parametrize("target,c,hw,stride,reason", [
    ("llvm", 16, 14, 1, "stride 1 at 14x14: the dense schedule's register tiles win"),
    ("mali", 16, 56, 1, "GPU families have no plane kernel"),
])
def test_layers_that_keep_the_dense_schedule(tmp_path, target, c, hw, stride, reason):
    path, x = dw_layer(tmp_path, c, hw, stride, 3)
    result = compile(path, target, tmp_path / "m.tar")
    layer = result.report["layers"][0]
    assert layer["decision"] == "dense" and "plane" not in layer["format"], reason


@pytest.mark.parametrize("hw,stride,k,ratio,decision", [
    (7, 1, 3, 0.78, "sparse"),   # the DR kernel at 78% beats the dense schedule at every size
    (7, 1, 3, 0.3, "dense"),     # 70% of the taps kept: a kept tap costs 1.6 dense ones
    (14, 1, 3, 0.78, "sparse"),
    (14, 2, 3, 0.78, "sparse"),  # a 7x7 output, but strided
    (7, 1, 5, 0.78, "sparse"),
])
def test_pruned_layer_decision_by_output_size(tmp_path, hw, stride, k, ratio, decision):
    from tvm_dsprune.pruning.dcp import bwt_mask

    rng = np.random.default_rng(0)
    w = rng.standard_normal((24, 1, k, k)).astype("float32")
    w = w * bwt_mask(w, ratio, 1)
    path = tmp_path / "p.onnx"
    path.write_bytes(layer_onnx(w, rng.standard_normal(24).astype("float32"), hw, stride))
    result = compile(path, "llvm", tmp_path / "m.tar")
    layer = result.report["layers"][0]
    assert layer["decision"] == decision, layer["reason"]
    x = rng.standard_normal((1, 24, hw, hw)).astype("float32")
    np.testing.assert_allclose(LoadedModel(tmp_path / "m.tar")({"x": x})["z"], run_ort(path, x), rtol=1e-5, atol=1e-4)
