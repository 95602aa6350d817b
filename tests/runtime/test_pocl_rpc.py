"""A Mali package's OpenCL kernels run over RPC on a loopback PoCL server (TVM's RPC server with
the PoCL functions registered, reached through the tracker) and equal onnxruntime."""
import json
import subprocess
import tarfile

import pytest

pytest.importorskip("pyopencl")

from conftest import console_script, run_ort
from tvm_dsprune import zoo
from tvm_dsprune.bench.timing import relative_error
from tvm_dsprune.build.compile import compile
from tvm_dsprune.errors import InputError
from tvm_dsprune.pruning.onnx_prune import prune
from tvm_dsprune.runtime import rpc
from tvm_dsprune.runtime.run import run


@pytest.fixture(scope="module")
def tiny_mali(tmp_path_factory, zoo_onnx):
    folder = tmp_path_factory.mktemp("mali")
    pruned = folder / "tiny_p.onnx"
    prune(zoo_onnx("tiny"), pruned, dw="dcp-bh:0.8", pw="group-optimal:0.8", group="1x4", target="mali")
    result = compile(pruned, "mali", folder / "tiny_mali.tar", sparse="on")
    assert result.report["summary"]["sparse"] >= 3
    return pruned, result.package


def test_mali_package_carries_its_scheduled_module(tiny_mali):
    _, pkg = tiny_mali
    with tarfile.open(pkg) as tar:
        assert sorted(tar.getnames()) == ["ir.json", "lib.tar", "meta.json"]
        meta = json.loads(tar.extractfile("meta.json").read())
    assert (meta["arch"], meta["library_kind"], meta["ir"]) == ("aarch64", "objects", "ir.json")


def test_mali_kernels_over_rpc_on_pocl_equal_onnxruntime(tracker, pocl_server, tiny_mali):
    pruned, pkg = tiny_mali
    x = zoo.example_input("tiny", seed=4).numpy()
    with rpc.connect(tracker, pocl_server, session_timeout=600) as session:
        res = run(pkg, {"input": x}, device="opencl", session=session, repeat=2)
    assert relative_error(res.outputs["output"], run_ort(pruned, x)) < 1e-4
    assert len(res.latency_ms) == 2 and res.median_ms > 0


def test_cli_run_mali_package_on_the_pocl_server(tracker, pocl_server, tiny_mali, tmp_path):
    pruned, pkg = tiny_mali
    res = subprocess.run([str(console_script()), "run", str(pkg), "--rpc-tracker", tracker, "--rpc-key", pocl_server,
                          "--repeat", "2", "--compare-onnx", str(pruned)],
                         capture_output=True, text=True, cwd=tmp_path, timeout=900)
    assert res.returncode == 0, res.stderr
    assert "matches onnxruntime" in res.stdout                       # within the default tolerance
    assert float(res.stdout.split("max abs error ")[1].split(",")[0]) < 1e-4
    assert "measured on the board under key 'pocl'" in res.stdout


def test_mali_package_here_has_no_opencl_device(tiny_mali):
    _, pkg = tiny_mali
    with pytest.raises(InputError, match="built for opencl, and this machine has no opencl device"):
        run(pkg)
