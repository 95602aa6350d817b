"""Shared fixtures: zoo models exported once per session."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent

# A schedule rule of the collection that raises is a bug: fail the test instead of falling back.
os.environ.setdefault("DSPRUNE_STRICT_SCHEDULES", "1")


def pytest_report_header(config):
    import tvm_dsprune

    where = Path(tvm_dsprune.__file__).resolve().parent
    header = f"tvm_dsprune from {where}"
    if os.environ.get("DSPRUNE_REQUIRE_INSTALLED") == "1" and where == REPO / "tvm_dsprune":
        raise pytest.UsageError(f"tests must run against the installed package, not {where}")
    return header


@pytest.fixture(scope="session")
def zoo_onnx(tmp_path_factory):
    """zoo_onnx(name) -> path of the model exported to ONNX (seed 0), cached for the session."""
    from tvm_dsprune import zoo

    cache: dict[str, Path] = {}
    folder = tmp_path_factory.mktemp("zoo")

    def get(name: str) -> Path:
        if name not in cache:
            cache[name] = zoo.export(name, folder / f"{name}.onnx")
        return cache[name]

    return get


def onnx_weights(path) -> dict:
    import onnx
    from onnx import numpy_helper

    return {i.name: numpy_helper.to_array(i) for i in onnx.load(str(path)).graph.initializer}


def console_script() -> Path:
    """The installed `tvm-dsprune` script (next to this interpreter, on PATH or not)."""
    import sys

    return Path(sys.executable).parent / "tvm-dsprune"


def load_tool(name: str):
    """A script of tools/ as a module: tests share its model builders."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"tools_{name}", REPO / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def depthwise_relu6_onnx(path, c: int, hw: int, stride: int, k: int = 3, seed: int = 0):
    """A one-layer model: a depthwise conv (k x k, `stride`, same padding) with bias and ReLU6,
    random weights; written to `path`, returned."""
    rng = np.random.default_rng(seed)
    weight = rng.standard_normal((c, 1, k, k)).astype("float32")
    bias = rng.standard_normal(c).astype("float32")
    path.write_bytes(load_tool("bench_dw").layer_onnx(weight, bias, hw, stride))
    return path


def run_ort(path, x):
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})[0]
