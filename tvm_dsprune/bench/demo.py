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
    say(f"{'system':<34} {'median ms':>10} {'vs onnxruntime dense':>21} {'rel. error':>11}")
    ok = True
    for run in runs:
        base = run.times["onnxruntime dense"]["median_ms"]
        for name, err in (("onnxruntime dense", None), ("TVM dense", run.errors["dense"]),
                          ("TVM pruned", run.errors["pruned"])):
            ms = run.times[name]["median_ms"]
            label = f"{name} ({run.preset})" if name == "TVM pruned" else name
            if name != "TVM pruned" and run is not runs[0]:
                continue
            say(f"{label:<34} {ms:>10.3f} {base / ms:>20.2f}x {('-' if err is None else f'{err:.1e}'):>11}")
        ok = ok and max(run.errors.values()) < 1e-4
    say("")
    for run in runs:
        say(f"{run.preset}: MAC limit {run.mac_limit:.2f}x, TVM pruned at "
            f"{run.times['onnxruntime dense']['median_ms'] / run.times['TVM pruned']['median_ms']:.2f}x "
            "of onnxruntime dense")
    say("outputs match onnxruntime (relative error < 1e-4)" if ok else
        "WARNING: outputs differ from onnxruntime by more than 1e-4")
    say(f"files in {work}/")
    return {"runs": runs, "ok": ok}
