"""tools/count_denormals.py counts the denormal values a model computes: checked on a graph
that scales its input into the denormal range, against the count numpy makes of the same
product, and on one that cannot make any."""
import subprocess
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from conftest import REPO

SCRIPT = REPO / "tools" / "count_denormals.py"


def scaled_model(path, scale: float):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 64])
    s = numpy_helper.from_array(np.array([scale], dtype=np.float32), "s")
    graph = helper.make_graph([helper.make_node("Mul", ["x", "s"], ["y"]),
                               helper.make_node("Relu", ["y"], ["z"])], "g", [x],
                              [helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, 64])], [s])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


def count(path):
    out = subprocess.run([sys.executable, str(SCRIPT), str(path)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().splitlines()[-1]


def test_denormal_products_are_counted(tmp_path):
    scale = np.float32(1e-39) / np.float32(4.0)     # itself denormal: a weight too
    scaled_model(tmp_path / "m.onnx", float(scale))
    x = np.random.default_rng(0).standard_normal((1, 64)).astype("float32")     # the tool's input
    y = x * np.array([scale], dtype=np.float32)
    tiny = np.finfo(np.float32).tiny
    dy = int(((np.abs(y) > 0) & (np.abs(y) < tiny)).sum())
    z = np.maximum(y, 0)
    dz = int(((z > 0) & (z < tiny)).sum())
    assert dy > 0
    assert count(tmp_path / "m.onnx").endswith(f"{dy + dz} of 128 activation values denormal; 1 denormal weights")


def test_normal_values_count_zero(tmp_path):
    scaled_model(tmp_path / "m.onnx", 0.5)
    assert count(tmp_path / "m.onnx").endswith("0 of 128 activation values denormal; 0 denormal weights")
