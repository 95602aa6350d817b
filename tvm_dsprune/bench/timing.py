"""Side-by-side timing on a shared, noisy machine.

Every measurement runs in a fresh process holding only the runtime being timed
(timing_worker.py), and the processes alternate across rounds, so a burst of load hits every
system alike. Runtimes' thread pools spin after a run: with two onnxruntime pools and TVM's in
one process on 2 cores, whichever system ran first in a round paid for the others' spinning
threads (measured: onnxruntime's dense model 2x slower than its pruned one in the same run).
onnxruntime keeps spinning enabled: it is faster that way (about 25% here), and it is the
baseline. Reported: the median over rounds.
"""
from __future__ import annotations

import statistics
from typing import Callable

import numpy as np

from ..targets import cpu_count


def ort_session(model, threads: int | None = None):
    """An onnxruntime CPU session with as many intra-op threads as this process has CPUs."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads or cpu_count()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    data = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(data, so, providers=["CPUExecutionProvider"])


def ort_runner(model, inputs: dict[str, np.ndarray]) -> Callable[[], list]:
    sess = ort_session(model)
    return lambda: sess.run(None, inputs)


def relative_error(y: np.ndarray, ref: np.ndarray) -> float:
    """max |y - ref| / max |ref|: the figure of merit of the numerical checks (fp32: < 1e-4)."""
    scale = float(np.abs(ref).max()) or 1.0
    return float(np.abs(np.asarray(y, np.float64) - ref).max() / scale)


def isolated(systems: dict[str, tuple[str, str]], inputs: dict[str, np.ndarray], rounds: int = 5,
             progress: Callable[[str], None] | None = None, together: bool = False) -> dict[str, dict]:
    """{name: (kind, model path)} with kind "onnxruntime" or "tvm"; each round times every system
    in a fresh process of its own (together=True: all systems of a round in one fresh process,
    one after the other with a pause — enough when at most one onnxruntime session is among them,
    and far fewer process starts). Returns {name: {"median_ms", "min_ms", "samples_ms"}}."""
    import json
    import subprocess
    import sys
    import tempfile

    names = list(systems)
    samples: dict[str, list[float]] = {name: [] for name in names}
    groups = [names] if together else [[n] for n in names]
    with tempfile.TemporaryDirectory() as tmp:
        feed = f"{tmp}/inputs.npz"
        np.savez(feed, **inputs)
        for r in range(rounds):
            for group in groups:
                cmd = [sys.executable, "-m", "tvm_dsprune.bench.timing_worker", feed]
                for name in group:
                    cmd += [systems[name][0], str(systems[name][1])]
                out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
                if out.returncode != 0:
                    raise RuntimeError(f"timing {group} failed: {out.stderr.strip()[-500:]}")
                for name, ms in zip(group, json.loads(out.stdout.strip().splitlines()[-1])):
                    samples[name].append(ms)
            if progress:
                progress(f"round {r + 1}/{rounds}: " + ", ".join(f"{n} {samples[n][-1]:.3f} ms" for n in names))
    return {name: {"median_ms": statistics.median(s), "min_ms": min(s), "samples_ms": s}
            for name, s in samples.items()}
