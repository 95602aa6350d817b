#!/usr/bin/env python3
"""Time single operators as whole models: TVM (this checkout's schedules) against onnxruntime.

    python tools/bench_ops.py SPEC [SPEC ...]

A SPEC is one of
    pw:CIN:COUT:HW        a 1x1 conv with bias on a HWxHW map
    mean:C:HW             a global average pool (a squeeze-excite block's mean)
    stem:COUT             a 3x3 stride-2 conv of a 3x224x224 image
    dw:C:HW:K:S           a KxK depthwise conv with stride S

Each is compiled with the collection's schedules (no tuning records), checked against
onnxruntime, and both are timed in this one process (median of 7 runs of 200 calls, as many
threads as this process has CPUs; onnxruntime first). A quick instrument for a schedule
change: run it before and after, the same way; whole models are timed with ab_timing.py, each
system in its own process.
"""
from __future__ import annotations

import sys
import time

import numpy as np
from onnx import TensorProto, helper, numpy_helper


def _model(nodes, x_shape, y_shape, inits):
    g = helper.make_graph(nodes, "op", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, y_shape)], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    return m


def _conv(cin, cout, hw, k, s, groups):
    rng = np.random.default_rng(0)
    w = (rng.standard_normal((cout, cin // groups, k, k)) * 0.1).astype(np.float32)
    b = rng.standard_normal(cout).astype(np.float32)
    node = helper.make_node("Conv", ["x", "w", "b"], ["y"], strides=[s, s], pads=[k // 2] * 4, group=groups)
    return _model([node], [1, cin, hw, hw], [1, cout, hw // s, hw // s],
                  [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])


def build(spec: str):
    kind, *args = spec.split(":")
    try:
        a = [int(v) for v in args]
        if kind == "pw" and len(a) == 3:
            return _conv(a[0], a[1], a[2], 1, 1, 1)
        if kind == "mean" and len(a) == 2:
            return _model([helper.make_node("GlobalAveragePool", ["x"], ["y"])], [1, a[0], a[1], a[1]],
                          [1, a[0], 1, 1], [])
        if kind == "stem" and len(a) == 1:
            return _conv(3, a[0], 224, 3, 2, 1)
        if kind == "dw" and len(a) == 4:
            return _conv(a[0], a[0], a[1], a[2], a[3], a[0])
    except ValueError:
        pass
    raise SystemExit(f"bench_ops: {spec!r}: not a SPEC (see --help)")


def median_us(fn, calls: int = 200, runs: int = 7) -> float:
    fn()
    fn()
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        for _ in range(calls):
            fn()
        out.append((time.perf_counter() - t) / calls * 1e6)
    return float(np.median(out))


def run(spec: str) -> None:
    import tvm
    from tvm import relax

    from tvm_dsprune.bench.timing import ort_session, relative_error
    from tvm_dsprune.build.compile import compile as compile_model

    model = build(spec)
    shape = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    sess = ort_session(model.SerializeToString())
    ref = sess.run(None, {"x": x})[0]
    vm = relax.VirtualMachine(compile_model(model, "llvm", tuning_records=False).executable, tvm.cpu())
    xt = tvm.runtime.tensor(x)
    y = vm["main"](xt).numpy()
    err = relative_error(y, ref)
    t_ort = median_us(lambda: sess.run(None, {"x": x}))
    t_tvm = median_us(lambda: vm["main"](xt))
    print(f"{spec:22s} onnxruntime {t_ort:8.1f} us  TVM {t_tvm:8.1f} us  TVM/onnxruntime {t_tvm / t_ort:5.2f}"
          f"  rel. error {err:.1e}", flush=True)


def main(argv: list[str]) -> None:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return
    specs = [build(s) and s for s in argv]          # every SPEC checked before any work
    for spec in specs:
        run(spec)


if __name__ == "__main__":
    main(sys.argv[1:])
