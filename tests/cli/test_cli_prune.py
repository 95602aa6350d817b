"""The exact `tvm-dsprune prune` forms of the issue, and clean failures."""
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from conftest import console_script, onnx_weights, run_ort
from tvm_dsprune import zoo
from tvm_dsprune.cli import main

FORMS = [
    "--dw dcp-bh:0.8 --pw filter-l2:0.5 --masks m.npz --report r.json",
    "--dw dcp:0.7", "--dw dcp-b:0.7", "--dw channel-l2:0.5",
    "--pw group-optimal:0.9 --group 1x4", "--pw group-greedy:0.9 --group 1x4",
    "--pw group-aligned:0.9 --group 4x4", "--pw tile-thread:0.5", "--pw tile-group:0.5",
    "--pw nm:2:4", "--pw magnitude:0.9",
    "--fc magnitude:0.5 --prune-last", "--fc group-optimal:0.5 --group 1x4 --prune-last", "--fc nm:2:4 --prune-last",
    "--pw group-optimal:0.75 --balanced --target mali",
]


@pytest.mark.parametrize("form", FORMS)
def test_cli_forms(form, zoo_onnx, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    shutil.copy(zoo_onnx("tiny"), "M.onnx")
    assert main(["prune", "M.onnx", "-o", "P.onnx", *form.split()]) == 0
    out = capsys.readouterr().out
    assert "wrote P.onnx" in out and "layer" in out and "total:" in out
    x = zoo.example_input("tiny").numpy()
    assert np.isfinite(run_ort(tmp_path / "P.onnx", x)).all()
    if "--masks" in form:
        report = json.loads((tmp_path / "r.json").read_text())
        assert report["summary"]["dw"]["pruned_layers"] == 3
        assert (tmp_path / "m.npz").exists()


def test_console_script_end_to_end(zoo_onnx, tmp_path):
    exe = console_script()
    assert exe.exists(), "the console script is installed"
    out = subprocess.run([str(exe), "prune", str(zoo_onnx("efficientnet_b0")), "-o", str(tmp_path / "p.onnx"),
                          "--dw", "dcp-bh:0.85", "--pw", "filter-l2:0.5", "--masks", str(tmp_path / "m.npz"),
                          "--report", str(tmp_path / "r.json")], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "HSR:" in out.stdout and "Real DW" in out.stdout
    w = onnx_weights(tmp_path / "p.onnx")
    masks = np.load(tmp_path / "m.npz", allow_pickle=False)
    assert all(np.all(w[k][~masks[k]] == 0) for k in masks.files)


ERRORS = [
    (["--dw", "dcp-bh:1.5"], "ratio 1.5 is outside [0, 1)"),
    (["--dw", "dcp-bhx:0.5"], "unknown pruning method 'dcp-bhx'"),
    (["--pw", "group-optimal:0.9", "--group", "1x200"], "group 1x200 does not fit"),
    (["--dw", "dcp:0.5", "--target", "nowhere"], "unknown target 'nowhere'"),
    (["--masks-in", "missing.npz"], "mask file missing.npz: no such file"),
    (["--plan", "missing.json"], "plan file missing.json: no such file"),
]


@pytest.mark.parametrize("args,message", ERRORS, ids=[m for _, m in ERRORS])
def test_cli_errors_are_one_line(args, message, zoo_onnx, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    shutil.copy(zoo_onnx("tiny"), "M.onnx")
    assert main(["prune", "M.onnx", "-o", "P.onnx", "--report", "r.json", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and err.count("\n") == 0 and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["M.onnx"]


def test_cli_missing_model_via_subprocess(tmp_path):
    out = subprocess.run([sys.executable, "-m", "tvm_dsprune", "prune", str(tmp_path / "x.onnx"), "-o",
                          str(tmp_path / "y.onnx"), "--dw", "dcp:0.5"], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr.strip() == f"tvm-dsprune prune: error: {tmp_path / 'x.onnx'}: no such file"


def test_prune_help_lists_every_method(capsys):
    with pytest.raises(SystemExit):
        main(["prune", "--help"])
    text = capsys.readouterr().out
    for name in ("dcp-bh", "channel-l2", "group-optimal", "tile-thread", "tile-group", "nm", "magnitude"):
        assert name in text


def test_zoo_command(tmp_path, capsys):
    assert main(["zoo", "tiny", "-o", str(tmp_path / "t.onnx")]) == 0
    assert (tmp_path / "t.onnx").exists()
    assert main(["zoo", "--list"]) == 0
    assert "efficientnet_b0" in capsys.readouterr().out
    assert main(["zoo", "resnet50", "-o", str(tmp_path / "r.onnx")]) == 2
    assert not (tmp_path / "r.onnx").exists()
