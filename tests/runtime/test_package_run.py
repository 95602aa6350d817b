"""compile -> package -> run: the .tar, meta.json, version checks, inputs/outputs, and the CLI."""
import json
import subprocess
import tarfile

import numpy as np
import pytest

from conftest import console_script, run_ort
from tvm_dsprune import zoo
from tvm_dsprune.runtime import package
from tvm_dsprune.cli import main
from tvm_dsprune.build.compile import compile
from tvm_dsprune.errors import InputError
from tvm_dsprune.pruning.onnx_prune import prune
from tvm_dsprune.runtime.run import run


@pytest.fixture(scope="module")
def tiny_pkg(tmp_path_factory, zoo_onnx):
    folder = tmp_path_factory.mktemp("pkg")
    pruned = folder / "tiny_p.onnx"
    prune(zoo_onnx("tiny"), pruned, dw="dcp-bh:0.8", pw="group-optimal:0.8", target="llvm")
    result = compile(pruned, "llvm", folder / "tiny.tar", report=folder / "report.json")
    return pruned, folder / "tiny.tar", result


def test_package_holds_library_and_meta(tiny_pkg):
    _, pkg, result = tiny_pkg
    with tarfile.open(pkg) as tar:
        assert sorted(tar.getnames()) == ["lib.so", "meta.json"]
        meta = json.loads(tar.extractfile("meta.json").read())
    assert meta["format"] == "tvm-dsprune-package" and meta["target"]["kind"] == "llvm"
    assert "mcpu" in meta["target"] or "mtriple" in meta["target"]       # the whole target, not its kind
    assert meta["inputs"] == [{"name": "input", "shape": [1, 3, 32, 32], "dtype": "float32"}]
    assert meta["outputs"] == [{"name": "output", "shape": [1, 10], "dtype": "float32"}]
    assert meta["tvm_version"] and meta["tvm_dsprune_version"]
    assert meta["report"]["summary"] == result.report["summary"]
    assert [r["name"] for r in meta["report"]["layers"]][0].endswith("/Conv")


def test_run_with_inputs_and_outputs_files(tiny_pkg, tmp_path):
    pruned, pkg, _ = tiny_pkg
    x = zoo.example_input("tiny", seed=9).numpy()
    np.savez(tmp_path / "in.npz", input=x)
    res = run(pkg, tmp_path / "in.npz", repeat=3, outputs=tmp_path / "out.npz")
    assert len(res.latency_ms) == 3 and res.median_ms > 0
    with np.load(tmp_path / "out.npz", allow_pickle=False) as out:
        np.testing.assert_allclose(out["output"], run_ort(pruned, x), rtol=1e-4, atol=1e-5)


def test_input_errors(tiny_pkg, tmp_path):
    _, pkg, _ = tiny_pkg
    np.savez(tmp_path / "bad.npz", input=np.zeros((1, 3, 8, 8), "float32"))
    with pytest.raises(InputError, match="has shape \\(1, 3, 8, 8\\), the model takes \\(1, 3, 32, 32\\)"):
        run(pkg, tmp_path / "bad.npz")
    np.savez(tmp_path / "other.npz", x=np.zeros(3, "float32"))
    with pytest.raises(InputError, match="no array for input"):
        run(pkg, tmp_path / "other.npz")


def test_package_from_another_tvm_version(tiny_pkg, tmp_path):
    _, pkg, _ = tiny_pkg
    old = tmp_path / "old.tar"
    with tarfile.open(pkg) as src, tarfile.open(old, "w") as dst:
        for m in src.getmembers():
            data = src.extractfile(m).read()
            if m.name == "meta.json":
                meta = json.loads(data)
                meta["tvm_version"] = "0.19.0"
                data = json.dumps(meta).encode()
                m.size = len(data)
            import io
            dst.addfile(m, io.BytesIO(data))
    with pytest.raises(InputError, match="was built with TVM 0.19.0; this is TVM 0.27"):
        package.read_meta(old)


def test_not_a_package(tmp_path):
    (tmp_path / "x.tar").write_bytes(b"not a tar")
    with pytest.raises(InputError, match="is not a tvm-dsprune package"):
        package.read_meta(tmp_path / "x.tar")
    with tarfile.open(tmp_path / "y.tar", "w") as tar:
        (tmp_path / "f").write_text("x")
        tar.add(tmp_path / "f", arcname="f")
    with pytest.raises(InputError, match="no meta.json"):
        package.read_meta(tmp_path / "y.tar")


@pytest.mark.parametrize("kwargs,message", [
    (dict(target="tpu"), "unknown target 'tpu'"),
    (dict(target="llvm", sparse="maybe"), "--sparse 'maybe'"),
    (dict(target="llvm", input_shapes=["input:1x3"]), "has 2 dimensions, the model has 4"),
    (dict(target="llvm", input_shapes=["image:1x3x32x32"]), "names no model input"),
])
def test_compile_errors_leave_nothing(kwargs, message, zoo_onnx, tmp_path):
    with pytest.raises(InputError, match=message):
        compile(zoo_onnx("tiny"), output=tmp_path / "m.tar", report=tmp_path / "r.json", **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_compile_missing_and_non_onnx(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        compile(tmp_path / "none.onnx", "llvm", tmp_path / "m.tar")
    (tmp_path / "x.onnx").write_text("hello")
    with pytest.raises(InputError, match="not an ONNX model"):
        compile(tmp_path / "x.onnx", "llvm", tmp_path / "m.tar")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.onnx"]


def test_gpu_package_does_not_run_on_this_cpu(zoo_onnx, tmp_path):
    compile(zoo_onnx("tiny"), "cuda", tmp_path / "c.tar", target_host="llvm")
    with pytest.raises(InputError, match="built for cuda"):
        run(tmp_path / "c.tar")


def test_cli_compile_and_run(zoo_onnx, tmp_path, capsys):
    pruned = tmp_path / "p.onnx"
    prune(zoo_onnx("tiny"), pruned, dw="dcp-b:0.7", pw="magnitude:0.8", target="llvm")
    assert main(["compile", str(pruned), "--target", "llvm", "-o", str(tmp_path / "m.tar"), "--sparse", "on",
                 "--report", str(tmp_path / "r.json"), "--input-shape", "input:1x3x32x32"]) == 0
    out = capsys.readouterr().out
    assert "sparse" in out and "conv/dense layers sparse" in out
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["summary"]["sparse"] >= 3
    np.savez(tmp_path / "in.npz", input=zoo.example_input("tiny").numpy())
    exe = console_script()
    res = subprocess.run([str(exe), "run", str(tmp_path / "m.tar"), "--inputs", str(tmp_path / "in.npz"),
                          "--outputs", str(tmp_path / "o.npz"), "--repeat", "3", "--compare-onnx", str(pruned)],
                         capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "median latency" in res.stdout and "matches onnxruntime" in res.stdout
    err = float(res.stdout.split("max abs error")[1].split(",")[0])
    assert err < 1e-4


def test_cli_compile_errors_are_one_line(tmp_path, capsys):
    assert main(["compile", str(tmp_path / "no.onnx"), "-o", str(tmp_path / "m.tar")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no such file" in err
    assert main(["run", str(tmp_path / "no.tar")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_tuning_records_for_another_target_are_refused(zoo_onnx, tmp_path):
    db = tmp_path / "db"
    db.mkdir()
    (db / "database_workload.json").write_text(json.dumps(["0", "AAAA"]) + "\n")
    (db / "database_tuning_record.json").write_text(json.dumps([0, [[], [1e-5], {"kind": "cuda", "arch": "sm_80"}, []]]) + "\n")
    with pytest.raises(InputError, match="are for target kind='cuda', not 'llvm'"):
        compile(zoo_onnx("tiny"), "llvm", tmp_path / "m.tar", tuning_records=db)
    with pytest.raises(InputError, match="not a MetaSchedule database folder"):
        compile(zoo_onnx("tiny"), "llvm", tmp_path / "m.tar", tuning_records=tmp_path / "nothing")
    (db / "database_tuning_record.json").write_text("not json\n")
    with pytest.raises(InputError, match="is not a MetaSchedule tuning record"):
        compile(zoo_onnx("tiny"), "llvm", tmp_path / "m.tar", tuning_records=db)
    assert not (tmp_path / "m.tar").exists()
