"""Interleaved A/B timing: packages and ONNX models, each in a fresh process per round.

    python tools/ab_timing.py [--rounds N] [--zoo MODEL] [--json FILE] VARIANT [VARIANT ...]

A VARIANT is a package (.tar, run by TVM) or an .onnx (run by onnxruntime), optionally with
one environment setting for its process: `m.tar@TVM_NUM_THREADS=4`. Every round runs each
variant once, in turn, through tvm_dsprune.bench.timing_worker (its per-call time over about
0.3 s), so that a slow spell of a shared machine falls on every variant of a round alike; the
medians over rounds are printed at the end. The input is the zoo model's example input.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path


def parse_variant(text: str) -> tuple[str, Path, dict]:
    path, _, env = text.partition("@")
    p = Path(path)
    if p.suffix not in (".tar", ".onnx") or not p.is_file():
        raise SystemExit(f"ab_timing: {path}: not a package (.tar) or an ONNX model (.onnx) that exists")
    extra = {}
    if env:
        name, eq, value = env.partition("=")
        if not eq or not name:
            raise SystemExit(f"ab_timing: {text}: write the setting as NAME=VALUE after '@'")
        extra[name] = value
    return text, p.resolve(), extra


def time_once(feed: Path, path: Path, env: dict) -> float:
    kind = "onnxruntime" if path.suffix == ".onnx" else "tvm"
    out = subprocess.run([sys.executable, "-m", "tvm_dsprune.bench.timing_worker", str(feed), kind, str(path)],
                         capture_output=True, text=True, env={**os.environ, **env})
    if out.returncode:
        raise SystemExit(f"ab_timing: {path.name} failed:\n{out.stderr[-1500:]}")
    return float(json.loads(out.stdout.strip().splitlines()[-1])[0])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("variants", nargs="+", help="PATH.tar or PATH.onnx, optionally @NAME=VALUE")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--zoo", default="mobilenet_v2", help="zoo model whose example input is fed")
    ap.add_argument("--json", help="write every round's times and the medians")
    args = ap.parse_args(argv)
    import numpy as np

    from tvm_dsprune import zoo

    variants = [parse_variant(v) for v in args.variants]
    times: dict[str, list[float]] = {label: [] for label, _, _ in variants}
    with tempfile.TemporaryDirectory() as tmp:
        feed = Path(tmp) / "feed.npz"
        np.savez(feed, input=zoo.example_input(args.zoo).numpy())
        for r in range(args.rounds):
            for label, path, env in variants:
                times[label].append(time_once(feed, path, env))
            print(f"round {r + 1}/{args.rounds}: " + ", ".join(f"{k} {v[-1]:.2f} ms" for k, v in times.items()),
                  flush=True)
    medians = {k: statistics.median(v) for k, v in times.items()}
    print("medians: " + ", ".join(f"{k} {v:.2f} ms" for k, v in medians.items()))
    if args.json:
        Path(args.json).write_text(json.dumps({"rounds": times, "medians": medians}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
