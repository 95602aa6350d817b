"""tools/kernel_states.py: the replayed kernel calls are the model (same output as onnxruntime
on a new input), and every kernel gets a time from every state."""
import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO, load_tool, run_ort

SCRIPT = REPO / "tools" / "kernel_states.py"


@pytest.fixture(scope="module")
def tiny_package(zoo_onnx, tmp_path_factory):
    from tvm_dsprune.build.compile import compile

    path = tmp_path_factory.mktemp("states") / "tiny.tar"
    compile(zoo_onnx("tiny"), "llvm", path, tuning_records=False)
    return path


def test_replayed_kernels_compute_the_model(tiny_package, zoo_onnx):
    tool = load_tool("kernel_states")
    kernels, functions, _, model = tool.record_calls(str(tiny_package))
    first_input = kernels[0][1][0]
    x = np.random.default_rng(7).standard_normal(tuple(first_input.shape)).astype("float32")
    first_input.copyfrom(x)
    tool.replay(kernels, functions)
    ref = run_ort(zoo_onnx("tiny"), x)
    got = kernels[-1][1][-1].numpy().reshape(ref.shape)
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5)
    model.close()


def test_every_kernel_is_timed_from_every_state(tiny_package, tmp_path):
    out = subprocess.run([sys.executable, str(SCRIPT), str(tiny_package), "--rounds", "1", "--json", str(tmp_path / "s.json")],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    data = json.loads((tmp_path / "s.json").read_text())
    tool = load_tool("kernel_states")
    assert len(data["kernels"]) >= 10
    assert all(row[s] > 0 for row in data["kernels"] for s in tool.STATES)
    assert "sum of" in out.stdout


def test_rounds_below_one_are_refused(tiny_package):
    out = subprocess.run([sys.executable, str(SCRIPT), str(tiny_package), "--rounds", "0"], capture_output=True, text=True)
    assert out.returncode == 2 and "--rounds must be at least 1" in out.stderr and "Traceback" not in out.stderr
