"""Count the denormal float32 values a model computes: every intermediate tensor of one
onnxruntime run (graph optimizations off, so each node's output is kept) and every weight.

    python tools/count_denormals.py MODEL.onnx

The input is the seeded random normal data `tvm-dsprune run` feeds a model given no inputs file
(a symbolic batch dimension set to 1).

Denormal operands cost many cycles per operation on x86 unless the thread flushes them to zero;
pruned and random-weight models can carry tiny activations. A count of 0 means flushing to zero
cannot speed the model up on this input.
"""
from __future__ import annotations

import argparse
import sys

import numpy as np


def main(argv=None) -> int:
    import onnx
    import onnxruntime as ort
    from onnx import helper, numpy_helper

    from tvm_dsprune.frontend.model_io import onnx_inputs
    from tvm_dsprune.runtime.run import load_inputs

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    args = ap.parse_args(argv)
    model = onnx.load(args.model)
    feed = load_inputs(None, onnx_inputs(model))
    names = [o for n in model.graph.node for o in n.output if o]
    del model.graph.output[:]
    model.graph.output.extend(helper.make_empty_tensor_value_info(o) for o in names)
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    tiny = np.finfo(np.float32).tiny

    def denormal(a: np.ndarray) -> int:
        m = np.abs(a)
        return int(((m > 0) & (m < tiny)).sum())

    total = found = 0
    for name, value in zip(names, sess.run(None, feed)):
        if getattr(value, "dtype", None) != np.float32:
            continue
        d = denormal(value)
        total, found = total + value.size, found + d
        if d:
            print(f"{name}: {d} of {value.size} denormal")
    weights = [numpy_helper.to_array(t) for t in model.graph.initializer]
    wd = sum(denormal(w) for w in weights if w.dtype == np.float32)
    print(f"{args.model}: {found} of {total} activation values denormal; {wd} denormal weights")
    return 0


if __name__ == "__main__":
    sys.exit(main())
