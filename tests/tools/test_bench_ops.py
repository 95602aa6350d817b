"""tools/bench_ops.py builds one-operator models that onnxruntime accepts, and runs them through
TVM: the printed relative error is TVM against onnxruntime, so a wrong kernel shows there; a
malformed SPEC is one message before any work."""
import re
import subprocess
import sys

import numpy as np
import onnxruntime as ort
import pytest

from conftest import REPO, load_tool

SCRIPT = REPO / "tools" / "bench_ops.py"


@pytest.mark.parametrize("spec,out_shape", [("pw:8:12:6", (1, 12, 6, 6)), ("mean:5:7", (1, 5, 1, 1)),
                                            ("dw:6:8:5:2", (1, 6, 4, 4)), ("stem:4", (1, 4, 112, 112))])
def test_specs_build_the_operator_they_name(spec, out_shape):
    model = load_tool("bench_ops").build(spec)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    shape = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert sess.run(None, {"x": np.zeros(shape, np.float32)})[0].shape == out_shape


def test_run_prints_tvm_against_onnxruntime():
    out = subprocess.run([sys.executable, str(SCRIPT), "mean:12:9", "pw:8:12:6"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    errors = [float(e) for e in re.findall(r"rel\. error (\S+)", out.stdout)]
    assert len(errors) == 2 and max(errors) < 1e-5


def test_a_bad_spec_is_one_message():
    out = subprocess.run([sys.executable, str(SCRIPT), "mean:12:9", "pw:8:x"], capture_output=True, text=True)
    assert out.returncode != 0 and "'pw:8:x': not a SPEC" in out.stderr and "Traceback" not in out.stderr
    assert "TVM" not in out.stdout                     # nothing ran before the bad SPEC was found
