"""Models written the way other exporters write them (exporters.py), each pruned with DEPrune-BH
and with 1x4 groups, compiled for llvm, cuda and mali, and run: equal to onnxruntime on the
pruned model (llvm here; mali's OpenCL kernels on PoCL; cuda compiled with nvcc, not run)."""
import shutil

import numpy as np
import onnx
import pytest

from conftest import console_script, run_ort
from models import exporters
from tvm_dsprune.bench.timing import relative_error
from tvm_dsprune.build.compile import compile
from tvm_dsprune.pruning.onnx_prune import prune
from tvm_dsprune.relax.lowering import lower
from tvm_dsprune.runtime.session import LoadedModel

MODELS = list(exporters.MODELS)
PLANS = {"deprune-bh": dict(preset="deprune-bh"), "group1x4": dict(pw="group-optimal:0.8", group="1x4")}
# DEPrune-BH's filter-pruned PW layers compile as the user would (--sparse auto: compact rows or
# group kernels, as the cost model says); 1x4 groups go through the sparse kernel everywhere.
SPARSE = {"deprune-bh": "auto", "group1x4": "on"}


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    folder = tmp_path_factory.mktemp("user_models")
    return {name: exporters.save(name, folder) for name in MODELS}


def pruned(sources, name, plan, target, folder):
    out = folder / f"{name}_{plan}_{target}.onnx"
    result = prune(sources[name], out, target=target, **PLANS[plan])
    return out, result.report


def example(name, seed=0):
    res = exporters.MODELS[name][1]
    return np.random.default_rng(seed).standard_normal((1, 3, res, res)).astype(np.float32)


def close_to_onnxruntime(y, ref):
    """Relative to the largest output (fp32: < 1e-4), and elementwise as numpy.allclose."""
    assert relative_error(y, ref) < 1e-4
    np.testing.assert_allclose(y, ref, rtol=1e-3, atol=1e-4 * np.abs(ref).max())


@pytest.mark.parametrize("name", MODELS)
def test_prune_and_compile_find_the_same_layers(name, sources):
    report = prune(sources[name], preset="deprune-bh", target="llvm").report
    low = lower(sources[name], "llvm", stop_after="fuse")
    assert [r.name for r in low.records] == [r["name"] for r in report["layers"]]
    assert [r.position for r in low.records] == list(range(len(report["layers"])))
    if name != "squeeze_excite":
        assert low.frontend, "normalization says what it did"


def test_one_small_layer_does_not_abort_the_prune(sources):
    report = prune(sources["squeeze_excite"], pw="group-optimal:0.8", group="1x4", target="llvm").report
    refused = [r for r in report["layers"] if r.get("refused")]
    assert [r["shape"][:2] for r in refused] == [[16, 2], [48, 2]]        # the 2-channel SE expansions
    assert all("does not fit" in r["note"] and r["method"] == "dense" for r in refused)
    assert any("cannot take them" in n for n in report["notes"])
    assert sum(r["method"] == "group-optimal" for r in report["layers"]) == 5


@pytest.mark.parametrize("plan", list(PLANS))
@pytest.mark.parametrize("name", MODELS)
def test_llvm_build_equals_onnxruntime(name, plan, sources, tmp_path):
    model, report = pruned(sources, name, plan, "llvm", tmp_path)
    assert any(r["method"] != "dense" for r in report["layers"])
    result = compile(model, "llvm", tmp_path / "m.tar", sparse=SPARSE[plan])
    assert any(r["decision"] in ("sparse", "compact") for r in result.report["layers"])
    x = example(name)
    y = LoadedModel(result.package)({"x": x})
    close_to_onnxruntime(next(iter(y.values())), run_ort(model, x))


@pytest.mark.slow
@pytest.mark.parametrize("plan", list(PLANS))
@pytest.mark.parametrize("name", MODELS)
def test_mali_kernels_on_pocl_equal_onnxruntime(name, plan, sources, tmp_path):
    pytest.importorskip("pyopencl")
    from tvm_dsprune.runtime.pocl import compile_for_pocl

    model, _ = pruned(sources, name, plan, "mali", tmp_path)
    compiled, records = compile_for_pocl(model, "mali", sparse=SPARSE[plan])
    assert any(r.decision in ("sparse", "compact") for r in records)
    x = example(name, seed=1)
    close_to_onnxruntime(compiled(x), run_ort(model, x))


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc is not installed")
@pytest.mark.parametrize("plan", list(PLANS))
@pytest.mark.parametrize("name", MODELS)
def test_cuda_build_compiles_with_nvcc(name, plan, sources, tmp_path):
    import tvm
    from tvm.support import nvcc

    model, _ = pruned(sources, name, plan, "cuda", tmp_path)
    result = compile(model, "cuda", tmp_path / "c.tar", sparse=SPARSE[plan], target_host="llvm")
    assert any(r["decision"] in ("sparse", "compact") for r in result.report["layers"])
    src = next(m for m in _modules(result.executable.mod) if m.kind == "cuda").inspect_source()
    with tvm.target.Target({"kind": "cuda", "arch": "sm_80"}):
        assert len(nvcc.compile_cuda(src, target_format="cubin", arch="sm_80", compiler="nvcc")) > 1000


def _modules(mod):
    yield mod
    for m in mod.imports:
        yield from _modules(m)


def test_compile_report_shows_the_folding(sources, tmp_path):
    """The CLI prints what normalization did; the JSON report has it."""
    import json
    import subprocess

    out = subprocess.run([str(console_script()), "compile", str(sources["shape_computed"]), "-o",
                          str(tmp_path / "m.tar"), "--report", str(tmp_path / "r.json")],
                         capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert out.returncode == 0, out.stderr
    frontend = json.loads((tmp_path / "r.json").read_text())["frontend"]
    assert any(step.startswith("folded") and "Shape 3" in step for step in frontend)
    assert "frontend: folded" in out.stdout


def test_unfaithful_resize_is_refused_in_one_line(tmp_path):
    import subprocess

    from onnx import TensorProto, helper, numpy_helper

    g = helper.make_graph([helper.make_node("Resize", ["x", "", "s"], ["y"], name="up", mode="linear")], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 20, 20])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                          [numpy_helper.from_array(np.array([1, 1, 1.53, 1.53], np.float32), "s")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.save(m, str(tmp_path / "r.onnx"))
    out = subprocess.run([str(console_script()), "compile", str(tmp_path / "r.onnx"), "-o", str(tmp_path / "r.tar")],
                         capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip().count("\n") == 0 and "Resize node 'up'" in out.stderr
    assert not (tmp_path / "r.tar").exists()
