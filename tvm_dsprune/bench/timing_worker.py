"""Time models in a process of their own:

    python -m tvm_dsprune.bench.timing_worker INPUTS KIND MODEL [KIND MODEL ...]

KIND is `onnxruntime` (an .onnx) or `tvm` (a package .tar); INPUTS an .npz. Prints one JSON list
of per-call milliseconds, one per model, timed one after the other with a pause between (thread
pools spin after a run). Only the runtimes named here live in the process.
"""
from __future__ import annotations

import json
import sys
import time

import numpy as np

SETTLE_S = 0.1


def runner(kind: str, model: str, feed: dict):
    if kind == "onnxruntime":
        from tvm_dsprune.bench.timing import ort_runner

        return ort_runner(model, feed)
    if kind == "tvm":
        from tvm_dsprune.runtime.session import LoadedModel

        return LoadedModel(model).runner(feed)
    raise SystemExit(f"unknown kind {kind!r}")


def per_call_ms(fn) -> float:
    for _ in range(3):
        fn()
    t = time.perf_counter()
    fn()
    number = max(3, min(200, int(0.3 / max(time.perf_counter() - t, 1e-5))))
    t = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - t) / number * 1e3


def main(argv=None) -> int:
    args = argv or sys.argv[1:]
    with np.load(args[0], allow_pickle=False) as data:
        feed = {k: data[k] for k in data.files}
    pairs = list(zip(args[1::2], args[2::2]))
    fns = [runner(kind, model, feed) for kind, model in pairs]
    out = []
    for fn in fns:
        time.sleep(SETTLE_S)
        out.append(per_call_ms(fn))
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
