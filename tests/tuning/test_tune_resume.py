"""A tune run stopped by Ctrl-C (SIGINT to the process group, as a terminal sends it) or by
SIGTERM (to the process, as `kill` sends it) keeps every record it measured, and the same
command run again continues: a last line half-written by a killed process is cut off, no record
is lost or measured twice, and the run ends at the trial total."""
import json
import os
import signal
import subprocess

import pytest

from conftest import console_script
from tvm_dsprune.tuning.database import RECORDS, scan

pytestmark = pytest.mark.slow

TRIALS = 12


def tune_stopped_by(model, folder, sig, group: bool):
    """Run `tune` and send `sig` once its first batch is measured; (exit status, output)."""
    proc = subprocess.Popen([str(console_script()), "tune", str(model), "--trials", str(TRIALS),
                             "--trials-per-round", "3", "--tuning-records", str(folder)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    out, sent = [], False
    try:
        for line in proc.stdout:
            out.append(line)
            if line.startswith("[") and not sent:
                (os.killpg if group else os.kill)(proc.pid, sig)
                sent = True
        return proc.wait(timeout=300), "".join(out)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def record_lines(folder) -> list[str]:
    return (folder / RECORDS).read_text().splitlines()


def test_stopped_runs_lose_nothing_and_a_rerun_reaches_the_total(zoo_onnx, tmp_path):
    model, db = zoo_onnx("tiny"), tmp_path / "db"

    rc, out = tune_stopped_by(model, db, signal.SIGINT, group=True)
    assert rc == 130, out
    assert "SIGINT: stopping after the batch being measured" in out and "Traceback" not in out
    first = record_lines(db)
    assert 1 <= len(first) < TRIALS           # a batch: 3 trials, or 1 for a task whose space is one schedule
    assert f"{len(first)} of {TRIALS} trials in {db}" in out

    rc, out = tune_stopped_by(model, db, signal.SIGTERM, group=False)
    assert rc == 130, out
    assert f"{len(first)} of {TRIALS} trials already there" in out and "Traceback" not in out
    second = record_lines(db)
    assert second[:len(first)] == first and len(first) < len(second) < TRIALS

    # a process killed while writing leaves its last line cut short
    with open(db / RECORDS, "a") as f:
        f.write(second[-1][: len(second[-1]) // 2])
    res = subprocess.run([str(console_script()), "tune", str(model), "--trials", str(TRIALS), "--trials-per-round",
                          "3", "--tuning-records", str(db)], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "cut the half-written last line off database_tuning_record.json" in res.stdout
    final = record_lines(db)
    assert final[:len(second)] == second and len(final) == TRIALS
    assert scan(db).records == TRIALS
    keys = [(r[0], json.dumps(r[1][0])) for r in map(json.loads, final)]
    assert len(set(keys)) == TRIALS            # no schedule measured twice
