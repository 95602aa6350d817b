"""Mali (OpenCL) kernels run on PoCL through the harness and equal onnxruntime."""
import pytest

pytest.importorskip("pyopencl")

from conftest import run_ort
from tvm_dsprune import zoo
from tvm_dsprune.runtime.pocl import compile_for_pocl
from tvm_dsprune.pruning.onnx_prune import prune
from tvm_dsprune.bench.timing import relative_error


def check(onnx_path, model, resolution, sparse="on"):
    compiled, records = compile_for_pocl(onnx_path, "mali", sparse=sparse)
    x = zoo.example_input(model, seed=5, resolution=resolution).numpy()
    err = relative_error(compiled(x), run_ort(onnx_path, x))
    return compiled, records, err


def test_tiny_dense_and_pruned_on_pocl(zoo_onnx, tmp_path):
    _, _, err = check(zoo_onnx("tiny"), "tiny", 32, sparse="off")
    assert err < 1e-4
    pruned = tmp_path / "p.onnx"
    prune(zoo_onnx("tiny"), pruned, dw="dcp-bh:0.8", pw="group-optimal:0.8", group="1x4", target="mali")
    compiled, records, err = check(pruned, "tiny", 32)
    assert err < 1e-4
    assert sum(r.decision == "sparse" for r in records) >= 12
    assert any("dsprune_dr_depthwise" in k for k in compiled.kernel_names)
    assert any("dsprune_group_dense" in k for k in compiled.kernel_names)


@pytest.mark.slow
@pytest.mark.parametrize("model", ["mobilenet_v2", "mobilenet_v3_small", "efficientnet_b0"])
def test_every_mali_kernel_of_the_pruned_zoo_model_on_pocl(model, tmp_path):
    src = zoo.export(model, tmp_path / "m.onnx", resolution=64)
    pruned = tmp_path / "p.onnx"
    prune(src, pruned, dw="dcp-bh:0.8", pw="group-optimal:0.8", fc="magnitude:0.5", target="mali")
    compiled, records, err = check(pruned, model, 64)
    assert err < 1e-4
    assert all(r.decision == "sparse" for r in records if r.op == "dw")
