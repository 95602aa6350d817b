#!/usr/bin/env python3
"""Benchmark the fused depthwise + group-sparse 1x1 kernel against the two kernels it replaces.

    python tools/bench_fused.py [--runs 300] [--json out.json]

For MobileNet-V2 and EfficientNet-B0 shapes (the depthwise conv at DEPrune-BH's 80% and the
1x1 projection in 1x4 groups at 85%, the cpu-sparse preset), builds the DR depthwise kernel, the
group-sparse 1x1 kernel and the fused kernel (kernels/dw_pointwise.py) with the CPU rules, checks
the fused kernel against numpy, then times, in one process, the two kernels run one after the
other and the fused kernel, alternating run by run (this machine is shared: paired ratios are
what a noisy minute leaves intact). Prints a markdown table. Hot and alone is the fused kernel's
worst case: in a model it also saves the depthwise output's trip through memory, which this does
not see; the CPU cost model's fusion rule (schedules/cpu/__init__.py) comes from whole models.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# (channels, input H=W, stride, kernel, 1x1 outputs): MobileNet-V2 (3x3), EfficientNet-B0 (5x5)
LAYERS = [(32, 112, 1, 3, 16), (144, 56, 2, 3, 32), (192, 28, 1, 3, 32), (384, 28, 2, 3, 64),
          (576, 14, 1, 3, 96), (576, 14, 2, 3, 160), (960, 7, 1, 3, 160), (240, 28, 1, 5, 40),
          (672, 14, 2, 5, 112)]


def layer(c, h, stride, k, f, runs, rng):
    import tvm
    from tvm.s_tir import dlight as dl

    from tvm_dsprune import targets
    from tvm_dsprune.build.tir_pipeline import register
    from tvm_dsprune.kernels import dr_depthwise, dw_pointwise, group_dense
    from tvm_dsprune.relax.pipeline import schedule_rules
    from tvm_dsprune.schedules.cpu.registers import vector_lanes
    from tvm_dsprune.sparse import dr_format, group_format

    tgt = targets.resolve("llvm")
    tt = tgt.tvm()
    lanes = vector_lanes(tt)
    pad = k // 2
    shape = dr_depthwise.DWConvShape(1, c, h, h, k, k, (stride, stride), (pad, pad, pad, pad))
    oh, ow = shape.out_hw
    w = rng.standard_normal((c, 1, k, k)).astype("float32")
    w[rng.random(w.shape) < 0.8] = 0
    fmt = dr_format.from_weight(w, 16, 4)
    bias = (rng.standard_normal(c) * 0.1).astype("float32")
    keep = rng.random((f, c // 4)) < 0.15
    pw = (rng.standard_normal((f, c)) * np.kron(keep, np.ones((1, 4)))).astype("float32")
    g = group_format.cover(pw, (1, 4), compact=False)
    x = rng.standard_normal((1, c, h, h)).astype("float32")

    tile = dr_depthwise.cpu_tile(ow, lanes)
    taps = dr_depthwise.tap_offsets(shape, tile, fmt.col_tap.reshape(-1))
    band = dw_pointwise.band_rows(oh, dr_depthwise.plane_layout(shape, tile).out_width, lanes)
    funcs = [dw_pointwise.build_cpu(shape, fmt.col_val.size, "relu6", f, g.gr, g.gc, g.group_val.shape[0],
                                    g.num_blocks, band, lanes),
             dr_depthwise.build_cpu(shape, fmt.col_val.size, tile, dr_depthwise.cpu_rows(oh, tile // lanes), lanes),
             group_dense.build_cpu(1, c, f, (oh, ow), g.gr, g.gc, g.group_val.shape[0], g.num_blocks,
                                   group_dense.pixel_tile(oh * ow, lanes), lanes)]
    libs = []
    for fn in funcs:
        mod = tvm.IRModule({"main": fn.with_attr("global_symbol", "main")})
        with tt:
            mod = dl.ApplyDefaultSchedule(*schedule_rules(tgt))(mod)
        libs.append(tvm.tirx.build(mod, target=tt, pipeline=register())["main"])
    t = lambda a: tvm.runtime.tensor(np.ascontiguousarray(a))            # noqa: E731
    out, mid, out2 = t(np.zeros((1, f, oh, ow), "float32")), t(np.zeros((1, c, oh, ow), "float32")), \
        t(np.zeros((1, f, oh, ow), "float32"))
    fused_args = [t(x), t(fmt.chan_ptr), t(taps), t(fmt.col_val.reshape(-1)), t(bias), t(g.block_ptr),
                  t(g.group_col), t(g.group_val), out]
    # the pair as a model runs it: the depthwise conv (bias and ReLU6 left out: an epilogue), the 1x1
    dw_args = [fused_args[0], fused_args[1], t(taps), fused_args[3], mid]
    pw_args = [mid, fused_args[5], fused_args[6], fused_args[7], out2]

    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    ref = np.zeros((1, c, oh, ow), "float32")
    for ky in range(k):
        for kx in range(k):
            ref += w[None, :, 0, ky, kx, None, None] * xp[:, :, ky:ky + stride * oh:stride, kx:kx + stride * ow:stride]
    ref = np.einsum("fc,nchw->nfhw", pw, np.clip(ref + bias[None, :, None, None], 0, 6))
    libs[0](*fused_args)
    err = float(np.abs(out.numpy() - ref).max() / np.abs(ref).max())
    if err > 1e-4:
        raise SystemExit(f"fused kernel wrong on C{c} {h}x{h} k{k} s{stride}: rel. error {err:.1e}")

    def pair():
        libs[1](*dw_args)
        libs[2](*pw_args)

    def fused():
        libs[0](*fused_args)

    for _ in range(20):
        pair()
        fused()
    tp, tf = [], []
    for _ in range(runs):
        s = time.perf_counter()
        pair()
        tp.append(time.perf_counter() - s)
        s = time.perf_counter()
        fused()
        tf.append(time.perf_counter() - s)
    tp, tf = np.array(tp) * 1e6, np.array(tf) * 1e6
    return {"layer": f"{c}ch {h}x{h} {k}x{k}/{stride} -> {f}", "band": band, "pair_us": float(np.median(tp)),
            "fused_us": float(np.median(tf)), "ratio": float(np.median(tf / tp)), "rel_error": err}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=300, help="alternating runs per layer (default 300)")
    p.add_argument("--json", help="write the rows as JSON")
    args = p.parse_args(argv)
    from tvm_dsprune.kernels.script import fast_inspect

    fast_inspect()
    rng = np.random.default_rng(0)
    rows = []
    print("| layer | band rows | DW then 1x1 (us) | fused (us) | fused / pair (paired) | rel. error |")
    print("|---|---|---|---|---|---|")
    for spec in LAYERS:
        r = layer(*spec, args.runs, rng)
        rows.append(r)
        print(f"| {r['layer']} | {r['band']} | {r['pair_us']:.1f} | {r['fused_us']:.1f} | {r['ratio']:.2f} | "
              f"{r['rel_error']:.1e} |", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
