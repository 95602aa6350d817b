"""The main job: a built-in MobileNet-V2, pruned with DEPrune-BH and with the CPU sparse preset,
compiled dense and pruned for this CPU, checked against onnxruntime and timed side by side."""
from __future__ import annotations

from pathlib import Path

PRESETS = ("deprune-bh", "cpu-sparse")


def run_demo(workdir="dsprune-demo", model: str = "mobilenet_v2", rounds: int = 5, say=print,
             presets=PRESETS) -> dict:
    from . import end_to_end as e2e

    work = Path(workdir)
    runs = []
    for preset in presets:
        say(f"== {model}, {preset} ==")
        run = e2e.prepare(model, preset, work, say, dense_from=runs[0] if runs else None)
        systems = ("onnxruntime dense", "TVM dense", "TVM pruned")
        e2e.measure(run, rounds, say, systems)
        runs.append(run)
    say("")
    for line in summary(runs):
        say(line)
    ok = all(max(run.errors.values()) < 1e-4 for run in runs)
    say("outputs match onnxruntime (relative error < 1e-4)" if ok else
        "WARNING: outputs differ from onnxruntime by more than 1e-4")
    say(f"files in {work}/")
    return {"runs": runs, "ok": ok}


def summary(runs) -> list[str]:
    """The demo's table: each preset's TVM pruned against the onnxruntime dense runs timed in
    the same rounds (each preset is timed in rounds of its own, so each has its own baseline
    row); TVM dense from the first preset's rounds; then each preset's MAC limit and speedup."""
    lines = [f"{'system':<40} {'median ms':>10} {'vs onnxruntime dense':>21} {'rel. error':>11}"]
    for run in runs:
        base = run.times["onnxruntime dense"]["median_ms"]
        rows = [(f"onnxruntime dense ({run.preset} rounds)", "onnxruntime dense", None)]
        if run is runs[0]:
            rows.append(("TVM dense", "TVM dense", run.errors["dense"]))
        rows.append((f"TVM pruned ({run.preset})", "TVM pruned", run.errors["pruned"]))
        for label, name, err in rows:
            ms = run.times[name]["median_ms"]
            lines.append(f"{label:<40} {ms:>10.3f} {base / ms:>20.2f}x {('-' if err is None else f'{err:.1e}'):>11}")
    lines.append("")
    for run in runs:
        lines.append(f"{run.preset}: MAC limit {run.mac_limit:.2f}x, TVM pruned at "
                     f"{run.times['onnxruntime dense']['median_ms'] / run.times['TVM pruned']['median_ms']:.2f}x "
                     "of onnxruntime dense")
    return lines
