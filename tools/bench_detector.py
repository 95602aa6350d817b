#!/usr/bin/env python3
"""Benchmark a detector at a real resolution: onnxruntime dense, TVM dense and TVM pruned.

    python tools/bench_detector.py [--resolution 640] [--rounds 7] [--preset deprune-bh] [--json out.json]

The zoo's DB text detector (`db_mv3`: MobileNet-V3-Large 0.5x + FPN + ConvTranspose head, as
PaddleOCR builds its mobile one) is exported at the resolution, pruned with the preset for this
CPU (`--target llvm`), and compiled dense (`--sparse off`) and pruned (`--sparse auto`). Both
builds are checked against onnxruntime first. Then every system is timed in a fresh process
of its own per round (tvm_dsprune.bench.timing.isolated); medians over rounds. Prints a
markdown table for BENCHMARKS.md.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--resolution", type=int, default=640)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--preset", default="deprune-bh")
    ap.add_argument("--model", default="db_mv3", help="zoo model (default db_mv3)")
    ap.add_argument("--json", metavar="FILE")
    args = ap.parse_args(argv)

    from tvm_dsprune import zoo
    from tvm_dsprune.bench.timing import isolated, ort_session, relative_error
    from tvm_dsprune.build.compile import compile
    from tvm_dsprune.pruning.onnx_prune import prune
    from tvm_dsprune.runtime.session import LoadedModel
    from tvm_dsprune.targets import cpu_count

    def say(msg):
        print(msg, file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        src = zoo.export(args.model, work / "dense.onnx", resolution=args.resolution)
        pruned = work / "pruned.onnx"
        prune(src, pruned, preset=args.preset, target="llvm")
        x = {"input": zoo.example_input(args.model, resolution=args.resolution).numpy()}
        errors, reports = {}, {}
        for name, model, mode in (("dense", src, "off"), ("pruned", pruned, "auto")):
            say(f"compiling {name} (--sparse {mode})")
            result = compile(model, "llvm", work / f"{name}.tar", sparse=mode)
            reports[name] = result.report
            y = LoadedModel(work / f"{name}.tar")(x)["output"]
            errors[name] = relative_error(y, ort_session(model).run(None, x)[0])
            if errors[name] > 1e-4:
                raise SystemExit(f"TVM {name}: relative error {errors[name]:.1e} against onnxruntime")
        systems = {"onnxruntime dense": ("onnxruntime", src), "TVM dense": ("tvm", work / "dense.tar"),
                   "TVM pruned": ("tvm", work / "pruned.tar")}
        t = isolated(systems, x, rounds=args.rounds, progress=say)
    med = {k: v["median_ms"] for k, v in t.items()}
    summary = reports["pruned"]["summary"]
    print(f"\n{args.model} at {args.resolution}x{args.resolution}, {cpu_count()} threads, {args.rounds} rounds, "
          f"medians in ms; pruned: {args.preset} ({summary['sparse']} layers sparse, {summary['compact']} compact)\n")
    print("| onnxruntime dense | TVM dense | TVM pruned | TVM dense / onnxruntime | TVM pruned / TVM dense "
          "| rel. error dense / pruned |")
    print("|---|---|---|---|---|---|")
    print(f"| {med['onnxruntime dense']:.1f} | {med['TVM dense']:.1f} | {med['TVM pruned']:.1f} "
          f"| {med['TVM dense'] / med['onnxruntime dense']:.2f} | {med['TVM pruned'] / med['TVM dense']:.2f} "
          f"| {errors['dense']:.1e} / {errors['pruned']:.1e} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"medians_ms": med, "samples_ms": {k: v["samples_ms"] for k, v in t.items()},
                                               "errors": errors, "pruned_report": reports["pruned"]}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
