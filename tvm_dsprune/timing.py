"""Side-by-side timing on a shared, noisy machine.

Every system is timed in rounds that interleave with the others (round 1: A, B, C; round 2: A,
B, C; ...), so a burst of load hits them all alike. Each phase starts after a short pause and
one discarded call: thread pools (onnxruntime's, TVM's) spin for a while after a run, and a
system must not be timed while the previous one's threads still hold the cores. onnxruntime
keeps spinning enabled: it is faster that way (about 25% here), and it is the baseline.
Reported: the median over rounds of each round's mean per-call time.
"""
from __future__ import annotations

import os
import statistics
import time
from typing import Callable

import numpy as np


def cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


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


def calls_per_round(fn: Callable[[], object], target_s: float = 0.05) -> int:
    fn()
    t = time.perf_counter()
    fn()
    one = time.perf_counter() - t
    return max(1, min(200, int(target_s / max(one, 1e-6))))


def interleaved(systems: dict[str, Callable[[], object]], rounds: int = 7,
                progress: Callable[[str], None] | None = None, settle_s: float = 0.05) -> dict[str, dict]:
    """{name: {"median_ms", "min_ms", "samples_ms"}} from interleaved rounds."""
    number = {name: calls_per_round(fn) for name, fn in systems.items()}
    samples: dict[str, list[float]] = {name: [] for name in systems}
    for r in range(rounds):
        for name, fn in systems.items():
            time.sleep(settle_s)                       # let the previous system's threads go idle
            fn()
            t = time.perf_counter()
            for _ in range(number[name]):
                fn()
            samples[name].append((time.perf_counter() - t) / number[name] * 1e3)
        if progress:
            progress(f"round {r + 1}/{rounds}: " + ", ".join(f"{n} {samples[n][-1]:.3f} ms" for n in systems))
    return {name: {"median_ms": statistics.median(s), "min_ms": min(s), "samples_ms": s}
            for name, s in samples.items()}


def relative_error(y: np.ndarray, ref: np.ndarray) -> float:
    """max |y - ref| / max |ref|: the figure of merit of the numerical checks (fp32: < 1e-4)."""
    scale = float(np.abs(ref).max()) or 1.0
    return float(np.abs(np.asarray(y, np.float64) - ref).max() / scale)
