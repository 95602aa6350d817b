"""The CUDA schedules checked for numbers without a GPU: the CUDA-scheduled TensorIR of a model
(thread/block bindings, shared-memory staging) lowered for an OpenCL stand-in and run on PoCL,
the whole model against onnxruntime. Together the plans below reach every kind of CUDA-scheduled
function: the DR sparse depthwise and group-sparse kernels, the compact rows (dense kernel on the
kept filters + row scatter), the dense depthwise rule, and dlight's rules for the rest."""
import pytest

pytest.importorskip("pyopencl")

from conftest import run_ort
from tvm_dsprune import zoo
from tvm_dsprune.bench.timing import relative_error
from tvm_dsprune.pruning.onnx_prune import prune
from tvm_dsprune.runtime.pocl import compile_for_pocl

PLANS = {   # plan -> (prune options, sparse mode); None: the dense model
    "dense": (None, "off"),
    "deprune-bh": (dict(preset="deprune-bh"), "auto"),                     # DR sparse DW + compact rows
    "group": (dict(dw="dcp-bh:0.8", pw="group-optimal:0.8", group="1x4", fc="magnitude:0.5"), "on"),
}


def run_plan(src, model, plan, resolution, tmp_path):
    options, sparse = PLANS[plan]
    path = src
    if options is not None:
        path = tmp_path / f"{plan}.onnx"
        prune(src, path, target="cuda", **options)
    compiled, records = compile_for_pocl(path, "cuda", sparse=sparse)
    x = zoo.example_input(model, seed=7, resolution=resolution).numpy()
    return compiled, records, relative_error(compiled(x), run_ort(path, x))


def scheduled_by(compiled, block: str) -> list[str]:
    from tvm import tirx

    return [gv.name_hint for gv, f in compiled.mod.functions_items()
            if isinstance(f, tirx.PrimFunc) and f'T.sblock("{block}")' in f.script()]


def check_coverage(runs: dict) -> None:
    """Every kind of CUDA-scheduled function ran somewhere in `runs` (plan -> compiled model)."""
    names = {p: " ".join(c.kernel_names) for p, c in runs.items()}
    assert "dsprune_dr_depthwise" in names["deprune-bh"] and "dsprune_row_scatter" in names["deprune-bh"]
    assert "dsprune_group_dense" in names["group"]
    assert scheduled_by(runs["dense"], "depthwise_conv2d_nchw") or scheduled_by(runs["dense"], "group_conv2d_nchw")
    assert any(f.startswith("mean") for f in runs["dense"].warp_shuffles)   # dlight's reductions


def test_tiny_cuda_schedules_on_pocl(zoo_onnx, tmp_path):
    runs = {}
    for plan in PLANS:
        compiled, records, err = run_plan(zoo_onnx("tiny"), "tiny", plan, 32, tmp_path)
        assert err < 1e-4, plan
        runs[plan] = compiled
    check_coverage(runs)


@pytest.mark.slow
@pytest.mark.parametrize("model", ["mobilenet_v2", "mobilenet_v3_small", "efficientnet_b0"])
def test_every_cuda_schedule_of_the_pruned_zoo_model_on_pocl(model, tmp_path):
    src = zoo.export(model, tmp_path / "m.onnx", resolution=64)
    runs = {}
    for plan in PLANS:
        compiled, records, err = run_plan(src, model, plan, 64, tmp_path)
        assert err < 1e-4, (plan, err)
        if plan != "dense":
            assert all(r.decision == "sparse" for r in records if r.op == "dw")
        runs[plan] = compiled
    check_coverage(runs)
