#!/usr/bin/env python3
"""Benchmark pruned 1x1 convs on this CPU: what the CPU cost model in schedules/cpu/ rests on.

    python tools/bench_pw.py [--rounds 5] [--json out.json]

For MobileNet-V2-shaped 1x1 conv + ReLU layers, times onnxruntime dense, TVM dense, and TVM on
three pruned forms: 50% filter pruning through the group-sparse kernel (`--sparse on`) and as
compact rows (the dense kernel on the kept filters, `--sparse auto`), and 90% 1x4 optimal
unaligned groups on the group-sparse kernel. All systems of a round run in one fresh process
(tvm_dsprune.bench.timing.isolated); medians over rounds. Every TVM result is checked against
onnxruntime first. Prints a markdown table for BENCHMARKS.md.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

# (C_in, C_out, H=W): projection and expansion 1x1 convs of MobileNet-V2 at 224x224
LAYERS = [(144, 24, 56), (32, 192, 28), (192, 32, 28), (384, 64, 14), (576, 96, 14),
          (960, 160, 7), (320, 1280, 7)]


def layer_onnx(weight: np.ndarray, bias: np.ndarray, hw: int) -> bytes:
    from onnx import TensorProto, helper, numpy_helper

    cout, cin = weight.shape[:2]
    g = helper.make_graph(
        [helper.make_node("Conv", ["x", "w", "b"], ["y"]), helper.make_node("Relu", ["y"], ["z"])], "pw",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, cin, hw, hw])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, cout, hw, hw])],
        [numpy_helper.from_array(weight, "w"), numpy_helper.from_array(bias, "b")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    return m.SerializeToString()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--json", metavar="FILE")
    args = ap.parse_args(argv)

    from tvm_dsprune.build.compile import compile
    from tvm_dsprune.pruning.groups import group_mask
    from tvm_dsprune.pruning.structured import row_mask
    from tvm_dsprune.runtime.session import LoadedModel
    from tvm_dsprune.bench.timing import isolated, ort_session, relative_error
    from tvm_dsprune.targets import cpu_count

    forms = {"TVM dense": (None, "off"), "TVM filter 50% sparse": ("filter", "on"),
             "TVM filter 50% compact": ("filter", "auto"), "TVM 1x4 90% sparse": ("group", "on")}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for i, (cin, cout, hw) in enumerate(LAYERS):
            rng = np.random.default_rng(i)
            w = rng.standard_normal((cout, cin)).astype("float32")
            b = rng.standard_normal(cout).astype("float32")
            x = rng.standard_normal((1, cin, hw, hw)).astype("float32")
            masks = {None: np.ones_like(w, bool), "filter": row_mask(w, 0.5), "group": group_mask(w, 0.9, (1, 4))}
            (work / "dense.onnx").write_bytes(layer_onnx(w.reshape(cout, cin, 1, 1), b, hw))
            systems = {"onnxruntime dense": ("onnxruntime", work / "dense.onnx")}
            for name, (mask, mode) in forms.items():
                data = layer_onnx((w * masks[mask]).reshape(cout, cin, 1, 1), b, hw)
                (work / f"{i}{mask}.onnx").write_bytes(data)
                tar = work / f"{i}{mask}{mode}.tar"
                result = compile(work / f"{i}{mask}.onnx", "llvm", tar, sparse=mode)
                err = relative_error(LoadedModel(tar)({"x": x})["z"], ort_session(data).run(None, {"x": x})[0])
                if err > 1e-4:
                    raise SystemExit(f"{name} {cin}->{cout}@{hw}: relative error {err:.1e} vs onnxruntime")
                decision = result.report["layers"][0]["decision"]
                expected = {"off": "dense", "on": "sparse", "auto": "compact"}[mode]
                if decision != expected:
                    raise SystemExit(f"{name} {cin}->{cout}@{hw}: compiled {decision}, expected {expected}")
                systems[name] = ("tvm", tar)
            t = isolated(systems, {"x": x}, rounds=args.rounds, together=True)
            row = {"layer": f"{cin}->{cout} @{hw}x{hw}", "macs_m": cin * cout * hw * hw / 1e6,
                   **{k: v["median_ms"] for k, v in t.items()}}
            rows.append(row)
            print(f"{row['layer']}: " + ", ".join(f"{k} {v['median_ms'] * 1e3:.0f} us" for k, v in t.items()),
                  file=sys.stderr, flush=True)
    cols = ["onnxruntime dense"] + list(forms)
    print(f"\n{cpu_count()} threads, {args.rounds} rounds, medians in us\n")
    print("| 1x1 conv | MMAC | " + " | ".join(cols) + " |")
    print("|---" * (2 + len(cols)) + "|")
    for r in rows:
        print(f"| {r['layer']} | {r['macs_m']:.1f} | " + " | ".join(f"{r[c] * 1e3:.0f}" for c in cols) + " |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
