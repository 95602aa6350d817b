"""Every zoo model, pruned with every method, compiled with sparse kernels, equals onnxruntime on
the pruned model (relative error < 1e-4). Big models run at 64x64 to keep CI fast: compile time
does not depend on resolution, and every layer shape class is still there."""
import pytest

from conftest import run_ort
from tvm_dsprune import zoo
from tvm_dsprune.build.compile import compile
from tvm_dsprune.pruning.onnx_prune import prune
from tvm_dsprune.runtime.session import LoadedModel
from tvm_dsprune.bench.timing import relative_error

RESOLUTION = {"tiny": 32, "mobilenet_v2": 64, "mobilenet_v3_small": 64, "efficientnet_b0": 64}
PLANS = {  # together: DCP, DCP-B, DCP-BH, group-optimal 1x4 and 4x4, filter-l2, tile-thread, nm 2:4, magnitude
    "dcp+group1x4": dict(dw="dcp:0.7", pw="group-optimal:0.9", group="1x4"),
    "dcp-b+group4x4": dict(dw="dcp-b:0.7", pw="group-optimal:0.9", group="4x4"),
    "dcp-bh+filter-l2": dict(dw="dcp-bh:0.8", pw="filter-l2:0.5"),
    "tile-thread+fc": dict(pw="tile-thread:0.5", fc="magnitude:0.5"),
    "nm2:4+dw-magnitude": dict(pw="nm:2:4", dw="magnitude:0.8"),
    "magnitude": dict(pw="magnitude:0.9", fc="magnitude:0.9"),
}


@pytest.fixture(scope="module")
def small_zoo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("zoo_small")
    return {m: zoo.export(m, folder / f"{m}.onnx", resolution=r) for m, r in RESOLUTION.items()}


@pytest.mark.slow
@pytest.mark.parametrize("plan", list(PLANS))
@pytest.mark.parametrize("model", list(RESOLUTION))
def test_pruned_zoo_model_matches_onnxruntime(model, plan, small_zoo, tmp_path):
    pruned = tmp_path / "p.onnx"
    prune(small_zoo[model], pruned, target="llvm", **PLANS[plan])
    result = compile(pruned, "llvm", tmp_path / "p.tar", sparse="on")
    x = zoo.example_input(model, batch=1, seed=3, resolution=RESOLUTION[model]).numpy()
    y = LoadedModel(result.package)({"input": x})["output"]
    assert relative_error(y, run_ort(pruned, x)) < 1e-4
    rows = result.report["layers"]
    for r in rows:                 # every pruned DW / 1x1 / dense layer runs on a sparse kernel
        if r["density"] < 1.0 and r["op"] in ("dw", "pw", "fc") and not r["reason"].startswith("strided"):
            assert r["decision"] == "sparse", r
    assert any(r["decision"] == "sparse" for r in rows)


@pytest.mark.slow
def test_auto_mode_and_dense_build_match_onnxruntime(small_zoo, tmp_path):
    src = small_zoo["mobilenet_v2"]
    pruned = tmp_path / "p.onnx"
    prune(src, pruned, dw="dcp-bh:0.78", pw="filter-l2:0.5", target="llvm")
    x = zoo.example_input("mobilenet_v2", seed=4, resolution=64).numpy()
    for model, mode in ((pruned, "auto"), (src, "off")):
        result = compile(model, "llvm", tmp_path / f"{mode}.tar", sparse=mode)
        y = LoadedModel(result.package)({"input": x})["output"]
        assert relative_error(y, run_ort(model, x)) < 1e-4
        if mode == "auto":          # filter-pruned PW layers run densely on their kept filters
            assert result.report["summary"]["compact"] >= 10
    assert result.report["summary"]["sparse"] == 0
