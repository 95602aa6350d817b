"""compile --tuning-records: a real MetaSchedule database is applied (the report says which layers
run tuned schedules, the output still equals onnxruntime); databases that are empty, for another
target, cut short or corrupt get one clear message, or none where they are fine."""
import json

import numpy as np
import pytest

from conftest import console_script, run_ort
from tuning_helpers import write_database
from tvm_dsprune.build.compile import compile
from tvm_dsprune.errors import InputError
from tvm_dsprune.pruning.onnx_prune import prune
from tvm_dsprune.runtime.session import LoadedModel
from tvm_dsprune.tuning import database
from tvm_dsprune.tuning.database import RECORDS, WORKLOADS


@pytest.fixture(scope="module")
def pruned_tiny(tmp_path_factory, zoo_onnx):
    folder = tmp_path_factory.mktemp("pruned")
    out = folder / "tiny_cs.onnx"
    prune(zoo_onnx("tiny"), out, preset="cpu-sparse", target="llvm")
    return out


@pytest.fixture(scope="module")
def tiny_db(tmp_path_factory, pruned_tiny):
    folder = tmp_path_factory.mktemp("db") / "records"
    names = write_database(folder, pruned_tiny, limit=6)
    return folder, names


def _output(pkg, x):
    return LoadedModel(pkg)({"input": x})["output"]


def test_compile_applies_a_database_and_reports_the_tuned_layers(tiny_db, pruned_tiny, tmp_path):
    folder, names = tiny_db
    assert len(names) == 6
    result = compile(pruned_tiny, "llvm", tmp_path / "m.tar", tuning_records=folder)
    rep = result.report
    tuned = [r for r in rep["layers"] if r["schedule"] == "tuned"]
    assert rep["tuning_records"] == str(folder)
    assert rep["summary"]["tuned_kernels"] == sum(1 for k in result.meta["kernels"] if k["tuned"])
    assert rep["summary"]["tuned_kernels"] >= len(names) - 1          # identical functions share a record
    assert tuned and rep["summary"]["tuned"] == len(tuned)
    tuned_kernels = {k["kernel"] for k in result.meta["kernels"] if k["tuned"]}
    assert {k["kernel"] for k in result.meta["kernels"] if k["layer"] in {r["name"] for r in tuned}} & tuned_kernels
    x = np.random.default_rng(0).standard_normal((1, 3, 32, 32)).astype("float32")
    ref = run_ort(pruned_tiny, x)
    y = _output(result.package, x)
    assert np.abs(y - ref).max() / np.abs(ref).max() < 1e-4
    untuned = compile(pruned_tiny, "llvm", None, tuning_records=False)
    assert untuned.report["summary"]["tuned"] == 0 and untuned.report["tuning_records"] is None


def test_an_empty_database_applies_nothing(pruned_tiny, tmp_path):
    (tmp_path / "db").mkdir()
    for name in (WORKLOADS, RECORDS):
        (tmp_path / "db" / name).write_text("")
    result = compile(pruned_tiny, "llvm", None, tuning_records=tmp_path / "db")
    assert result.report["summary"]["tuned"] == 0
    assert not any(k["tuned"] for k in result.meta["kernels"])


def _copy(src, dst):
    dst.mkdir()
    for name in (WORKLOADS, RECORDS):
        (dst / name).write_bytes((src / name).read_bytes())
    return dst


def test_bad_databases_get_one_message_each(tiny_db, pruned_tiny, tmp_path):
    folder, _ = tiny_db
    cases = {}
    bad = _copy(folder, tmp_path / "garbage_workload")
    (bad / WORKLOADS).write_text("garbage\n" + (bad / WORKLOADS).read_text())
    cases[bad] = f"line 1 of {WORKLOADS} is not a MetaSchedule workload"
    bad = _copy(folder, tmp_path / "corrupt_record")
    lines = (bad / RECORDS).read_text().splitlines(keepends=True)
    lines[2] = lines[2][: len(lines[2]) // 2] + "\n"
    (bad / RECORDS).write_text("".join(lines))
    cases[bad] = f"line 3 of {RECORDS} is not a MetaSchedule tuning record"
    bad = _copy(folder, tmp_path / "cut_short")
    text = (bad / RECORDS).read_text()
    (bad / RECORDS).write_text(text[: len(text) - 40])
    cases[bad] = "cut short: an interrupted tune"
    bad = _copy(folder, tmp_path / "other_cpu")
    recs = [json.loads(line) for line in (bad / RECORDS).read_text().splitlines()]
    recs[-1][1][2]["mcpu"] = "cortex-a76"
    (bad / RECORDS).write_text("".join(json.dumps(r) + "\n" for r in recs))
    cases[bad] = "are for target mcpu='cortex-a76'"
    bad = _copy(folder, tmp_path / "bad_index")
    recs = [json.loads(line) for line in (bad / RECORDS).read_text().splitlines()]
    recs[0][0] = 99
    (bad / RECORDS).write_text("".join(json.dumps(r) + "\n" for r in recs))
    cases[bad] = f"line 1 of {RECORDS} is not a MetaSchedule tuning record"
    (tmp_path / "a_file").write_text("x")
    cases[tmp_path / "a_file"] = "is a file, not a database folder"
    cases[tmp_path / "missing"] = "not a MetaSchedule database folder"
    for path, message in cases.items():
        with pytest.raises(InputError, match=message.replace("(", r"\(")):
            compile(pruned_tiny, "llvm", tmp_path / "m.tar", tuning_records=path)
    assert not (tmp_path / "m.tar").exists()


def test_tvm_failures_reading_a_checked_database_are_one_message(tiny_db, tmp_path):
    folder, _ = tiny_db
    bad = _copy(folder, tmp_path / "b64")
    line = json.loads((bad / WORKLOADS).read_text().splitlines()[0])
    line[1] = "AAAA" + line[1][4:]                   # still base64, no longer TVM's IR
    rest = (bad / WORKLOADS).read_text().splitlines(keepends=True)[1:]
    (bad / WORKLOADS).write_text(json.dumps(line) + "\n" + "".join(rest))
    with pytest.raises(InputError, match="TVM cannot read this database"):
        database.open_database(bad, "llvm")


def test_a_cut_short_last_line_is_repaired_for_tune_only(tiny_db, tmp_path):
    folder, _ = tiny_db
    bad = _copy(folder, tmp_path / "cut")
    whole = (bad / RECORDS).read_bytes()
    (bad / RECORDS).write_bytes(whole + b'[0, [[[], []], [0.0001')
    files = database.scan(bad, allow_truncated_tail=True)
    assert files.truncated == {RECORDS: len(whole)}
    assert database.repair_tail(files) == [RECORDS]
    assert (bad / RECORDS).read_bytes() == whole
    assert database.scan(bad).records == len(whole.decode().splitlines())


def test_cli_compile_says_which_records_it_used(tiny_db, pruned_tiny, tmp_path):
    import subprocess

    folder, _ = tiny_db
    res = subprocess.run([str(console_script()), "compile", str(pruned_tiny), "--tuning-records", str(folder),
                          "-o", str(tmp_path / "m.tar")], capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert res.returncode == 0, res.stderr
    assert f"tuning records: {folder}" in res.stdout
    table = res.stdout.split("format / reason")[1]
    assert " tuned " in table and "layers tuned" in table
    res = subprocess.run([str(console_script()), "compile", str(pruned_tiny), "--tuning-records", str(folder),
                          "--no-tuning-logs"], capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and "one or the other" in res.stderr
