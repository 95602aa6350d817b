"""tvm-dsprune tune on the tiny zoo model with a handful of trials: the database it writes is one
`compile` applies (the report says so, the output still equals onnxruntime), searched schedules
included; a rerun of a finished command adds nothing; bad input is one message and no folder."""
import json
import subprocess
import time

import numpy as np
import pytest

from conftest import console_script, run_ort
from tvm_dsprune.build.compile import compile
from tvm_dsprune.pruning.onnx_prune import prune
from tvm_dsprune.runtime.session import LoadedModel
from tvm_dsprune.tuning.database import RECORDS, WORKLOADS, scan

pytestmark = pytest.mark.slow


def tune_cli(*args, cwd, timeout=1500):
    return subprocess.run([str(console_script()), "tune", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout)


def searched_only(src, dst, kinds=("SamplePerfectTile", "SampleCategorical")):
    """A copy of database `src` with only the records whose trace sampled decisions: schedules the
    search found, not the collection's own (which samples nothing)."""
    dst.mkdir()
    (dst / WORKLOADS).write_bytes((src / WORKLOADS).read_bytes())
    keep = [line for line in (src / RECORDS).read_text().splitlines()
            if any(k in json.dumps(json.loads(line)[1][0]) for k in kinds)]
    (dst / RECORDS).write_text("".join(line + "\n" for line in keep))
    return len(keep)


def check_against_onnxruntime(model, records, tmp_path, name, target="llvm"):
    result = compile(model, target, tmp_path / f"{name}.tar", tuning_records=records)
    x = np.random.default_rng(1).standard_normal((1, 3, 32, 32)).astype("float32")
    ref = run_ort(model, x)
    y = LoadedModel(result.package)({"input": x})["output"]
    assert np.abs(y - ref).max() / np.abs(ref).max() < 1e-4
    return result


@pytest.fixture(scope="module")
def tuned_dense(tmp_path_factory, zoo_onnx):
    folder = tmp_path_factory.mktemp("tune_dense")
    t0 = time.perf_counter()
    res = tune_cli(zoo_onnx("tiny"), "--trials", 9, "--trials-per-round", 3, "--tuning-records", folder / "db",
                   "--json", folder / "summary.json", "--plot", folder / "curve.png", cwd=folder)
    return folder, res, time.perf_counter() - t0


def test_tune_writes_a_database_compile_applies(tuned_dense, zoo_onnx, tmp_path):
    folder, res, seconds = tuned_dense
    assert res.returncode == 0, res.stderr
    print(f"tune tiny, 9 trials: {seconds:.0f} s")
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("[")]
    assert lines and all(k in lines[-1] for k in ("trials,", "tasks done", "elapsed", "ETA", "best"))
    assert lines[-1].startswith("[9/9 trials")
    files = scan(folder / "db")
    assert files.records == 9 and files.valid_per_workload
    assert {t["kind"] for t in files.targets} == {"llvm"}
    summary = json.loads((folder / "summary.json").read_text())
    assert sum(t["trials"] for t in summary["tasks"]) == 9 and summary["stopped"] is None
    tuned_tasks = [t for t in summary["tasks"] if t["trials"]]
    # the collection's own schedule is measured first, so a task's best is never worse than it
    assert all(t["baseline_ms"] is not None and t["best_ms"] <= t["baseline_ms"] for t in tuned_tasks)
    # the tuning curve: one point per measured batch, trials rising to the total; once every task
    # has a time, the model's kernel time is the tasks' best times times their calls, and falls
    curve = summary["curve"]
    assert [p["trials"] for p in curve] == sorted(p["trials"] for p in curve) and curve[-1]["trials"] == 9
    timed = [p["model_ms"] for p in curve if p["model_ms"] is not None]
    if all(t["best_ms"] is not None for t in summary["tasks"]):
        expect = sum(t["weight"] * t["best_ms"] for t in summary["tasks"])
        assert abs(curve[-1]["model_ms"] - expect) <= 1e-9 * expect
        assert timed == sorted(timed, reverse=True)
    else:
        assert curve[-1]["model_ms"] is None
    assert (folder / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # each task's space: a rule's knobs, MetaSchedule's own, or a rule without knobs (its schedule alone)
    assert all(t["space"] == "MetaSchedule space" or t["space"].endswith((" knobs", " (fixed)")) for t in tuned_tasks)

    result = check_against_onnxruntime(zoo_onnx("tiny"), folder / "db", tmp_path, "all")
    assert result.report["summary"]["tuned"] >= len(tuned_tasks)
    assert {r["name"] for r in result.report["layers"] if r["schedule"] == "tuned"} >= \
        {layer for t in tuned_tasks for layer in t["layers"]}
    # the schedules MetaSchedule's own space found, applied alone, compute the same
    assert searched_only(folder / "db", tmp_path / "searched") >= 1
    searched = check_against_onnxruntime(zoo_onnx("tiny"), tmp_path / "searched", tmp_path, "searched")
    assert searched.report["summary"]["tuned"] >= 1


def test_a_finished_tune_run_again_adds_nothing(tuned_dense, zoo_onnx):
    folder, _, _ = tuned_dense
    before = (folder / "db" / RECORDS).read_bytes()
    res = tune_cli(zoo_onnx("tiny"), "--trials", 9, "--tuning-records", folder / "db", cwd=folder)
    assert res.returncode == 0, res.stderr
    assert "9 of 9 trials already there" in res.stdout
    assert (folder / "db" / RECORDS).read_bytes() == before


def test_sparse_kernels_are_tuned_over_their_rule_knobs(zoo_onnx, tmp_path):
    from tvm_dsprune.tuning.tune import tune

    # An AVX2 CPU whatever the host: on the tiny model's small images, 16-lane pixel tiles leave
    # too few tiles per thread for the rule's knob, so an AVX-512 host would have nothing to tune.
    avx2 = "llvm -mcpu=znver3 -num-cores=2"
    model = tmp_path / "tiny_cs.onnx"
    prune(zoo_onnx("tiny"), model, preset="cpu-sparse", target=avx2)
    said = []
    result = tune(model, avx2, 8, tmp_path / "db", trials_per_round=4, progress=said.append)
    assert result.complete and result.new == 8 and result.stopped is None
    assert any("over a collection rule's knobs" in m for m in said)
    knobs = [t for t in result.tasks if t["space"] == "cpu.group_dense knobs" and t["trials"]]
    assert knobs and all(t["baseline_ms"] is not None and t["best_ms"] <= t["baseline_ms"] for t in knobs)
    # records of the same schedule are never measured twice
    recs = [json.loads(line) for line in (tmp_path / "db" / RECORDS).read_text().splitlines()]
    assert len({(r[0], json.dumps(r[1][0])) for r in recs}) == len(recs)
    assert searched_only(tmp_path / "db", tmp_path / "searched", ("SampleCategorical",)) >= 1
    compiled = check_against_onnxruntime(model, tmp_path / "searched", tmp_path, "searched", avx2)
    assert any(r["schedule"] == "tuned" and r["decision"] == "sparse" for r in compiled.report["layers"])
