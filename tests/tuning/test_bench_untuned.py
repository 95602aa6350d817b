"""`bench --untuned` times untuned builds beside the tuned ones: with a database that tunes the
tiny model's layers, the table gets the untuned TVM columns, every build is checked against
onnxruntime and timed, and the tuned builds say how many layers the database tuned."""
import json

import pytest

from tuning_helpers import write_database

pytestmark = pytest.mark.slow


def test_bench_times_untuned_builds_beside_the_tuned_ones(tmp_path, zoo_onnx):
    from tvm_dsprune.cli import main

    db = tmp_path / "db"
    write_database(db, zoo_onnx("tiny"), sparse="off")
    out_json, out_md = tmp_path / "b.json", tmp_path / "b.md"
    assert main(["bench", "--no-layers", "--e2e-models", "tiny", "--presets", "deprune-bh", "--rounds", "1",
                 "--tuning-records", str(db), "--untuned", "--json", str(out_json), "--markdown", str(out_md)]) == 0
    row, = json.loads(out_json.read_text())["end_to_end"]
    for system in ("TVM dense", "TVM dense untuned", "TVM pruned", "TVM pruned untuned"):
        assert row[system] > 0
    assert row["tuned_layers"] >= 1 and row["rel_error_vs_onnxruntime"] < 1e-4
    header = out_md.read_text().splitlines()[0]
    assert "TVM dense untuned (ms)" in header and "TVM pruned untuned (ms)" in header
