"""`tvm-dsprune bench`: the per-layer DW table and the end-to-end table, as a dict, markdown
and JSON. Every figure is the median over rounds, the systems measured side by side."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

from .layers import RATIOS


def run_bench(models=("mobilenet_v2", "efficientnet_b0"), e2e_models=("mobilenet_v2", "mobilenet_v3_small",
              "efficientnet_b0"), layers: bool = True, end_to_end: bool = True, rounds: int = 5,
              workdir=None, say=print, presets=("deprune-bh", "cpu-sparse"), tuning_records=None,
              target: str = "llvm", cross_compiler: str | None = None, session=None, untuned: bool = False) -> dict:
    """session: a board (runtime.rpc) to build for `target` and time on; then only the
    end-to-end table is made, TVM dense vs pruned timed on the board. untuned: time untuned
    builds of both TVM models beside the tuned ones (this CPU)."""
    from ..targets import cpu_count
    from . import end_to_end as e2e
    from .layers import bench_layers

    result = {"threads": cpu_count(), "rounds": rounds, "layers": [], "end_to_end": []}
    if session is not None:
        result = {"board": session.name, "target": str(target), "rounds": rounds, "layers": [], "end_to_end": []}
        layers = False
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(workdir or tmp)
        work.mkdir(parents=True, exist_ok=True)
        if layers:
            for m in models:
                say(f"per-layer DW benchmark: {m}")
                result["layers"] += bench_layers(m, work, rounds, say)
        if end_to_end:
            say("end-to-end benchmark")
            for m in e2e_models:
                first = None
                for preset in presets:
                    say(f"{m}, {preset}")
                    run = e2e.prepare(m, preset, work, lambda msg: say("  " + msg), tuning_records, first,
                                      target, cross_compiler, session, untuned=untuned and session is None)
                    if session is not None:
                        e2e.measure_on_board(run, session, rounds, lambda msg: say("  " + msg))
                    else:
                        e2e.measure(run, rounds, lambda msg: say("  " + msg))
                    result["end_to_end"].append(e2e.row(run))
                    first = first or run
    return result


def markdown(result: dict) -> str:
    lines = []
    if result.get("layers"):
        cols = ["onnxruntime dense", "TVM dense"] + [f"TVM sparse {int(r * 100)}%" for r in RATIOS]
        lines += ["| model | DW layer | C | k/s | input | " + " | ".join(f"{c} (us)" for c in cols) +
                  " | sparse 80% vs onnxruntime |", "|---" * (6 + len(cols)) + "|"]
        for r in result["layers"]:
            lines.append(f"| {r['model']} | {r['layer'].strip('/').replace('/Conv', '')} | {r['channels']} | "
                         f"{r['kernel']}/{r['stride']} | {r['input']} | " +
                         " | ".join(f"{r[c] * 1e3:.0f}" for c in cols) +
                         f" | {r['onnxruntime dense'] / r['TVM sparse 80%']:.2f}x |")
        lines.append("")
    if result.get("end_to_end"):
        cols = [c for c in ("onnxruntime dense", "onnxruntime pruned", "TVM dense untuned", "TVM dense",
                            "TVM pruned untuned", "TVM pruned") if c in result["end_to_end"][0]]
        base = "onnxruntime dense" if "onnxruntime dense" in cols else "TVM dense"   # a board has no onnxruntime
        if result.get("board"):
            lines += [f"Timed on {result['board']} (target {result['target']}).", ""]
        lines += ["| model | pruning | " + " | ".join(f"{c} (ms)" for c in cols) +
                  f" | TVM pruned vs {base} | MAC limit | rel. error |", "|---" * (5 + len(cols)) + "|"]
        for r in result["end_to_end"]:
            lines.append(f"| {r['model']} | {r['pruning']} | " + " | ".join(f"{r[c]:.2f}" for c in cols) +
                         f" | {r[base] / r['TVM pruned']:.2f}x | {r['mac_limit']:.2f}x"
                         f" | {r['rel_error_vs_onnxruntime']:.1e} |")
    return "\n".join(lines)


def save(result: dict, json_path=None, markdown_path=None) -> None:
    from ..outputs import output_set

    with output_set() as out:
        if json_path:
            out.path(json_path).write_text(json.dumps(result, indent=1))
        if markdown_path:
            out.path(markdown_path).write_text(markdown(result) + "\n")
