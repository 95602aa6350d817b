#!/usr/bin/env python3
"""Benchmark depthwise convs on this CPU: where the plane kernel replaces the dense schedule, and
what the DR kernel gains at DEPrune's 78%.

    python tools/bench_dw.py [--rounds 5] [--json out.json]

For the depthwise conv + ReLU6 layers of MobileNet-V2 and EfficientNet-B0 at 224x224 (unpruned
weights), times onnxruntime, TVM's dense depthwise schedule, and the DR kernel's CPU form with
every tap kept (the plane kernel: padded rows, tap offsets, register row tiles), and the DR kernel
on the same layer pruned at 78% by BWT with one channel per group (each channel keeps its
largest taps). The CPU cost model (schedules/cpu/__init__.py) comes from this table: the plane kernel
runs a dense depthwise conv wherever it wins, and the DR kernel a pruned one. All systems of a round run in one fresh process
(tvm_dsprune.bench.timing.isolated); medians over rounds. Every TVM result is checked against
onnxruntime first. Prints a markdown table for BENCHMARKS.md.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

# (channels, input H=W, stride, kernel): MobileNet-V2 (3x3) and EfficientNet-B0 (5x5) layers
LAYERS = [(32, 112, 1, 3), (96, 112, 2, 3), (144, 56, 1, 3), (144, 56, 2, 3), (192, 28, 1, 3),
          (192, 28, 2, 3), (384, 14, 1, 3), (576, 14, 2, 3), (960, 7, 1, 3), (144, 56, 2, 5),
          (240, 28, 1, 5), (672, 14, 2, 5), (1152, 7, 1, 5)]


def layer_onnx(weight: np.ndarray, bias: np.ndarray, hw: int, stride: int) -> bytes:
    from onnx import TensorProto, helper, numpy_helper

    c, _, k, _ = weight.shape
    p, oh = k // 2, (hw + 2 * (k // 2) - k) // stride + 1
    g = helper.make_graph(
        [helper.make_node("Conv", ["x", "w", "b"], ["y"], group=c, strides=[stride] * 2, pads=[p] * 4),
         helper.make_node("Clip", ["y", "lo", "hi"], ["z"])], "dw",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, c, hw, hw])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, c, oh, oh])],
        [numpy_helper.from_array(weight, "w"), numpy_helper.from_array(bias, "b"),
         numpy_helper.from_array(np.array(0, "float32"), "lo"), numpy_helper.from_array(np.array(6, "float32"), "hi")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    return m.SerializeToString()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--json", metavar="FILE")
    args = ap.parse_args(argv)

    from tvm_dsprune import schedules
    from tvm_dsprune.pruning.dcp import bwt_mask
    from tvm_dsprune.bench.timing import isolated, ort_session, relative_error
    from tvm_dsprune.build.compile import compile
    from tvm_dsprune.runtime.session import LoadedModel
    from tvm_dsprune.targets import cpu_count

    spec = schedules.lookup("llvm")
    no_planes = dataclasses.replace(spec, cost=dataclasses.replace(spec.cost, dw_planes_from=0))
    always = dataclasses.replace(spec, cost=dataclasses.replace(spec.cost, dw_planes_from=1))
    forms = {"TVM dense schedule": (no_planes, None), "TVM plane kernel": (always, "every tap"),
             "TVM DR 78%": (spec, "DR g")}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for i, (c, hw, stride, k) in enumerate(LAYERS):
            rng = np.random.default_rng(i)
            w = rng.standard_normal((c, 1, k, k)).astype("float32")
            b = rng.standard_normal(c).astype("float32")
            x = rng.standard_normal((1, c, hw, hw)).astype("float32")
            data = layer_onnx(w, b, hw, stride)
            (work / f"{i}.onnx").write_bytes(data)
            (work / f"{i}p.onnx").write_bytes(layer_onnx(w * bwt_mask(w, 0.78, 1), b, hw, stride))
            systems = {"onnxruntime": ("onnxruntime", work / f"{i}.onnx")}
            ref = ort_session(data).run(None, {"x": x})[0]
            name = f"{c} {k}x{k}/s{stride} @{hw}"
            for form, (target, fmt) in forms.items():
                tar = work / f"{i}-{form[4:9]}.tar"
                pruned = fmt == "DR g"
                model = work / f"{i}{'p' if pruned else ''}.onnx"
                result = compile(model, target, tar, sparse="on" if pruned else "auto")
                want = ort_session(model.read_bytes()).run(None, {"x": x})[0] if pruned else ref
                err = relative_error(LoadedModel(tar)({"x": x})["z"], want)
                if err > 1e-4:
                    raise SystemExit(f"{form} {name}: relative error {err:.1e} vs onnxruntime")
                got = result.report["layers"][0].get("format", "")
                if (fmt or "") not in got or (fmt is None and "every tap" in got):
                    raise SystemExit(f"{form} {name}: compiled as {got!r}")
                systems[form] = ("tvm", tar)
            t = isolated(systems, {"x": x}, rounds=args.rounds, together=True)
            row = {"layer": name, "out_pixels": ((hw + 2 * (k // 2) - k) // stride + 1) ** 2,
                   **{key: v["median_ms"] for key, v in t.items()}}
            rows.append(row)
            print(f"{name}: " + ", ".join(f"{key} {v['median_ms'] * 1e3:.0f} us" for key, v in t.items()),
                  file=sys.stderr, flush=True)
    cols = ["onnxruntime"] + list(forms)
    print(f"\n{cpu_count()} threads, {args.rounds} rounds, medians in us; planes/dense: the plane "
          "kernel's time over the dense schedule's; DR 78%/best dense: the pruned layer's time over "
          "the faster dense form's\n")
    print("| depthwise conv | out pixels | " + " | ".join(cols) + " | planes/dense | DR 78%/best dense |")
    print("|---" * (4 + len(cols)) + "|")
    for r in rows:
        print(f"| {r['layer']} | {r['out_pixels']} | " + " | ".join(f"{r[c] * 1e3:.0f}" for c in cols)
              + f" | {r[cols[2]] / r[cols[1]]:.2f} | {r[cols[3]] / min(r[cols[1]], r[cols[2]]):.2f} |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
