"""Count the denormal float32 values a model computes: every intermediate tensor of one
onnxruntime run (graph optimizations off, so each node's output is kept) and every weight.

    python tools/count_denormals.py MODEL.onnx [--seed 0]

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

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("--seed", type=int, default=0, help="seed of the random normal input")
    args = ap.parse_args(argv)
    model = onnx.load(args.model)
    names = [o for n in model.graph.node for o in n.output if o]
    del model.graph.output[:]
    model.graph.output.extend(helper.make_empty_tensor_value_info(o) for o in names)
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(args.seed)
    feed = {}
    for i in sess.get_inputs():
        shape = [d if isinstance(d, int) else 1 for d in i.shape]
        feed[i.name] = rng.standard_normal(shape).astype("float32")
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
