"""GPU builds here, without a GPU: every kernel gets a GPU schedule (never host code), the CUDA
source compiles with nvcc, and the OpenCL source is there for Mali."""
import shutil
import tarfile

import pytest

from tvm_dsprune.build.compile import compile
from tvm_dsprune.pruning.onnx_prune import prune


def device_sources(executable, kind: str) -> str:
    def walk(m):
        yield m
        for i in m.imports:
            yield from walk(i)

    mods = [m for m in walk(executable.mod) if m.kind == kind]
    assert mods, f"no {kind} module: the build fell back to the host"
    return mods[0].inspect_source()


@pytest.fixture(scope="module")
def pruned_tiny(tmp_path_factory, zoo_onnx):
    out = tmp_path_factory.mktemp("gpu") / "tiny_p.onnx"
    prune(zoo_onnx("tiny"), out, dw="dcp-bh:0.8", pw="group-optimal:0.8", fc="magnitude:0.5", target="cuda",
          prune_last=True)
    return out


@pytest.mark.parametrize("target,kind", [("cuda", "cuda"), ("mali", "opencl")])
def test_gpu_build_has_every_kernel_on_the_device(pruned_tiny, target, kind, tmp_path):
    result = compile(pruned_tiny, target, tmp_path / "g.tar", sparse="on", target_host="llvm")
    src = device_sources(result.executable, kind)
    assert "dsprune_dr_depthwise" in src and "dsprune_group_dense" in src
    assert result.report["summary"]["by_op"]["dw"] == 3
    with tarfile.open(tmp_path / "g.tar") as tar:
        assert "lib.so" in tar.getnames()


def test_mali_for_an_aarch64_board_packs_object_files(pruned_tiny, tmp_path):
    result = compile(pruned_tiny, "mali", tmp_path / "m.tar", sparse="on")
    assert result.meta["target_host"]["mtriple"] == "aarch64-linux-gnu"
    with tarfile.open(tmp_path / "m.tar") as tar:
        assert "lib.tar" in tar.getnames()


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc is not installed")
def test_cuda_source_compiles_with_nvcc(pruned_tiny, tmp_path):
    import tvm
    from tvm.support import nvcc

    result = compile(pruned_tiny, "cuda", None, sparse="on", target_host="llvm")
    src = device_sources(result.executable, "cuda")
    with tvm.target.Target({"kind": "cuda", "arch": "sm_80"}):
        cubin = nvcc.compile_cuda(src, target_format="cubin", arch="sm_80", compiler="nvcc")
    assert len(cubin) > 1000
