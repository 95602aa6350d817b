#!/usr/bin/env python3
"""Benchmark the mask step: optimal unaligned group selection and a whole DEPrune-BH prune.

    python tools/bench_prune.py [--repeat 7] [--json out.json]

Prints medians (and min/max) of repeated runs measured in this one process, as a markdown
table for BENCHMARKS.md. The issue's bars: optimal selection of a 1280x320 weight, 1x4 groups,
90% sparsity, under 1 s; `tvm-dsprune prune` of EfficientNet-B0 with DEPrune-BH under 10 s.
"""
from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def timed(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()

    from tvm_dsprune import zoo
    from tvm_dsprune.pruning import groups
    from tvm_dsprune.pruning.onnx_prune import prune

    rows = []
    w = np.random.default_rng(0).standard_normal((1280, 320)).astype(np.float32)
    for sel in ("optimal", "greedy", "aligned"):
        print(f"group-{sel} 1280x320 1x4 90% ...", file=sys.stderr, flush=True)
        rows.append((f"group-{sel} selection, 1280x320, 1x4, 90%",
                     timed(lambda: groups.group_mask(w, 0.9, (1, 4), sel), args.repeat)))
    print("group-optimal 1280x320 4x4 90% ...", file=sys.stderr, flush=True)
    rows.append(("group-optimal selection, 1280x320, 4x4, 90%",
                 timed(lambda: groups.group_mask(w, 0.9, (4, 4), "optimal"), args.repeat)))

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        src = zoo.export("efficientnet_b0", tmp / "effnet.onnx")
        print("prune() EfficientNet-B0 DEPrune-BH ...", file=sys.stderr, flush=True)
        rows.append(("prune() EfficientNet-B0, dcp-bh:0.85 + filter-l2:0.5, writes model+masks+report",
                     timed(lambda: prune(src, tmp / "p.onnx", dw="dcp-bh:0.85", pw="filter-l2:0.5",
                                         masks=tmp / "m.npz", report=tmp / "r.json"), args.repeat)))
        exe = shutil.which("tvm-dsprune") or sys.executable
        cmd = ([exe] if exe != sys.executable else [exe, "-m", "tvm_dsprune"]) + [
            "prune", str(src), "-o", str(tmp / "p.onnx"), "--dw", "dcp-bh:0.85", "--pw", "filter-l2:0.5",
            "--masks", str(tmp / "m.npz"), "--report", str(tmp / "r.json"), "-q"]
        print("tvm-dsprune prune (whole command) ...", file=sys.stderr, flush=True)
        rows.append(("`tvm-dsprune prune` EfficientNet-B0 DEPrune-BH, whole command incl. start-up",
                     timed(lambda: subprocess.run(cmd, check=True, capture_output=True), max(3, args.repeat // 2))))

    import os
    print(f"\nmachine: {cpu_name()}, {os.cpu_count()} cores, python {platform.python_version()}, "
          f"repeat {args.repeat}\n")
    print("| what | median (s) | min (s) | max (s) |\n|---|---|---|---|")
    for name, t in rows:
        print(f"| {name} | {statistics.median(t):.3f} | {min(t):.3f} | {max(t):.3f} |")
    if args.json:
        Path(args.json).write_text(json.dumps({n: t for n, t in rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
