"""tools/ab_timing.py: every variant timed once per round in its own process, with its own
environment setting; a path that is not a model is refused in one line."""
import json
import subprocess
import sys

from conftest import REPO

SCRIPT = REPO / "tools" / "ab_timing.py"


def run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True)


def test_rounds_interleave_every_variant(zoo_onnx, tmp_path):
    model = zoo_onnx("tiny")
    out = run("--zoo", "tiny", "--rounds", "2", "--json", tmp_path / "t.json", model, f"{model}@OMP_NUM_THREADS=1")
    assert out.returncode == 0, out.stderr
    data = json.loads((tmp_path / "t.json").read_text())
    assert set(data["rounds"]) == {str(model), f"{model}@OMP_NUM_THREADS=1"}
    assert all(len(v) == 2 and all(t > 0 for t in v) for v in data["rounds"].values())
    assert out.stdout.count("round ") == 2 and "medians:" in out.stdout


def test_the_setting_reaches_the_variants_process(zoo_onnx):
    out = run("--zoo", "tiny", "--rounds", "1", f"{zoo_onnx('tiny')}@PYTHONHOME=/nonexistent")
    assert out.returncode != 0 and "failed" in out.stderr


def test_a_path_that_is_not_a_model_is_refused(tmp_path):
    (tmp_path / "x.txt").write_text("no")
    out = run(tmp_path / "x.txt")
    assert out.returncode != 0 and "not a package (.tar) or an ONNX model" in out.stderr
    assert "Traceback" not in out.stderr
