"""The demo's table: every speedup it prints is the ratio of two medians it prints beside it
(each preset is timed in rounds of its own, so each shows its own onnxruntime baseline)."""
import re
from pathlib import Path

from tvm_dsprune.bench.demo import summary
from tvm_dsprune.bench.end_to_end import EndToEnd


def run(preset, ort, dense, pruned):
    r = EndToEnd("mobilenet_v2", preset, Path("d.onnx"), Path("p.onnx"))
    r.times = {"onnxruntime dense": {"median_ms": ort}, "TVM dense": {"median_ms": dense},
               "TVM pruned": {"median_ms": pruned}}
    r.errors = {"dense": 1e-6, "pruned": 2e-6}
    r.macs = {"dense": 300e6, "pruned": 75e6}
    return r


def test_each_pruned_row_is_against_the_baseline_printed_above_it():
    lines = summary([run("deprune-bh", 7.741, 12.835, 10.218), run("cpu-sparse", 8.664, 12.1, 5.535)])
    table = [re.split(r"\s{2,}", line.strip()) for line in lines[1:] if line and "MAC limit" not in line]
    labels = [row[0] for row in table]
    assert labels == ["onnxruntime dense (deprune-bh rounds)", "TVM dense", "TVM pruned (deprune-bh)",
                      "onnxruntime dense (cpu-sparse rounds)", "TVM pruned (cpu-sparse)"]
    base = None
    for label, ms, ratio, _ in table:
        if label.startswith("onnxruntime"):
            base = float(ms)
            assert ratio == "1.00x"
        else:
            assert ratio == f"{base / float(ms):.2f}x"
    assert "cpu-sparse: MAC limit 4.00x, TVM pruned at 1.57x of onnxruntime dense" in lines
