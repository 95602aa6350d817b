"""The GPU collection: the second CUDA GPU and the second Mali are one file each; every zoo
model's CUDA code compiles with nvcc for sm_75, sm_80, sm_90 (and Orin's sm_87); dense
depthwise convs get the collection's GPU schedule, not dlight's one-group-per-pixel."""
import shutil
import subprocess

import pytest
import tvm

from tvm_dsprune import targets, zoo
from tvm_dsprune.build.compile import compile
from tvm_dsprune.pruning.onnx_prune import prune


def cuda_source(executable) -> str:
    def walk(m):
        yield m
        for i in m.imports:
            yield from walk(i)
    return next(m for m in walk(executable.mod) if m.kind == "cuda").inspect_source()


def test_second_gpus_are_registered_with_their_own_geometry():
    orin, cuda = targets.resolve("jetson-orin"), targets.resolve("cuda")
    g76, g78 = targets.resolve("mali"), targets.resolve("mali-g78")
    assert orin.target["arch"] == "sm_87" and orin.family == "cuda" and orin.geometry.dr_group == 32
    assert g78.geometry.k_tile != g76.geometry.k_tile and g78.family == g76.family == "opencl"
    assert orin.spec.rules is not cuda.spec.rules and g78.spec.rules is not g76.spec.rules


def test_prune_takes_the_tiles_of_the_named_gpu(zoo_onnx):
    r78 = prune(zoo_onnx("tiny"), dw="dcp-bh:0.8", target="mali-g78").report
    r76 = prune(zoo_onnx("tiny"), dw="dcp-bh:0.8", target="mali").report
    assert r78["geometry"]["k_tile"] == 8 and r76["geometry"]["k_tile"] == 4
    for row in r78["layers"]:
        if row["kind"] == "dw":
            full = [k for k, c in zip(row["subgemm_kept"], row["subgemm_columns"]) if c == max(row["subgemm_columns"])]
            assert all(k % 8 == 0 for k in full)


def test_mali_g78_model_on_pocl(zoo_onnx, tmp_path):
    pytest.importorskip("pyopencl")
    from tvm_dsprune.runtime.pocl import compile_for_pocl
    from conftest import run_ort
    from tvm_dsprune.bench.timing import relative_error

    pruned = tmp_path / "p.onnx"
    prune(zoo_onnx("tiny"), pruned, dw="dcp-bh:0.8", pw="group-optimal:0.8", target="mali-g78")
    model, _ = compile_for_pocl(pruned, "mali-g78")
    x = zoo.example_input("tiny", seed=2).numpy()
    assert relative_error(model(x), run_ort(pruned, x)) < 1e-4


def test_dense_depthwise_gets_the_collection_schedule(zoo_onnx):
    """dlight alone puts one 256-thread group on each output pixel; ours threads pixels and channels."""
    from tvm_dsprune.relax.lowering import lower

    mod = lower(zoo_onnx("tiny"), "cuda", sparse="off", stop_after="schedule").mod
    dw = [f for _, f in mod.functions_items() if isinstance(f, tvm.tirx.PrimFunc) and "group_conv2d_nchw" in f.script()]
    assert len(dw) == 3
    for f in dw:
        text = f.script()
        assert 'thread="threadIdx.y"' in text and 'thread="threadIdx.x"' in text


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc is not installed")
@pytest.mark.parametrize("model", ["tiny", "mobilenet_v2", "mobilenet_v3_small", "efficientnet_b0"])
def test_every_zoo_model_compiles_with_nvcc(model, tmp_path):
    src_onnx = zoo.export(model, tmp_path / "m.onnx", resolution=32 if model == "tiny" else 64)
    pruned = tmp_path / "p.onnx"
    prune(src_onnx, pruned, dw="dcp-bh:0.8", pw="group-optimal:0.8", fc="magnitude:0.5", target="cuda")
    for target in ({"kind": "cuda", "arch": "sm_75"}, {"kind": "cuda", "arch": "sm_80"},
                   {"kind": "cuda", "arch": "sm_90"}, "jetson-orin"):
        result = compile(pruned, target, None, sparse="on", target_host="llvm")   # refuses host fallback
        src = cuda_source(result.executable)
        assert "dsprune_dr_depthwise" in src and "dsprune_group_dense" in src
        arch = target["arch"] if isinstance(target, dict) else "sm_87"
        (tmp_path / f"{arch}.cu").write_text(src)
        out = subprocess.run(["nvcc", "-cubin", f"-arch={arch}", "-O3", "-w", "-o", str(tmp_path / f"{arch}.cubin"),
                              str(tmp_path / f"{arch}.cu")], capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, out.stderr[-2000:]
        assert (tmp_path / f"{arch}.cubin").stat().st_size > 10000


def test_compact_filter_pruned_layers_on_gpus(zoo_onnx, tmp_path):
    """DEPrune's PW filter pruning in auto mode: the compact layers (dense kernel on the kept
    filters + gather) get GPU schedules: CUDA compiles with nvcc, Mali runs on PoCL and equals
    onnxruntime."""
    pruned = tmp_path / "p.onnx"
    prune(zoo_onnx("tiny"), pruned, dw="dcp-bh:0.8", pw="filter-l2:0.5", fc="filter-l2:0.5", target="cuda")
    result = compile(pruned, "cuda", None, sparse="auto", target_host="llvm")    # refuses host fallback
    assert result.report["summary"]["compact"] >= 2
    if shutil.which("nvcc"):
        (tmp_path / "k.cu").write_text(cuda_source(result.executable))
        out = subprocess.run(["nvcc", "-cubin", "-arch=sm_80", "-O3", "-w", "-o", str(tmp_path / "k.cubin"),
                              str(tmp_path / "k.cu")], capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, out.stderr[-2000:]
    pytest.importorskip("pyopencl")
    from conftest import run_ort
    from tvm_dsprune.runtime.pocl import compile_for_pocl
    from tvm_dsprune.bench.timing import relative_error

    model, records = compile_for_pocl(pruned, "mali", sparse="auto")
    assert sum(r.decision == "compact" for r in records) >= 2
    x = zoo.example_input("tiny", seed=6).numpy()
    assert relative_error(model(x), run_ort(pruned, x)) < 1e-4
