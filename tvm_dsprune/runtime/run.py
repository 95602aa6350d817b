"""run(): load a package, feed inputs, return outputs, the median latency and, when asked, the
error against onnxruntime on the source model.

Inputs come from an .npz (keys = input names, loaded without pickles) or are seeded random
normal data. Latency is TVM's time_evaluator median over `repeat` runs of `number` calls.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError
from ..frontend.model_io import TensorInfo


@dataclass
class RunResult:
    outputs: dict[str, np.ndarray]
    latency_ms: list[float] = field(default_factory=list)
    errors: dict[str, float] = field(default_factory=dict)     # output -> rel. error vs onnxruntime
    notes: list[str] = field(default_factory=list)             # how the package runs on this device

    @property
    def median_ms(self) -> float | None:
        return float(np.median(self.latency_ms)) if self.latency_ms else None


def load_inputs(path, infos: list[TensorInfo]) -> dict[str, np.ndarray]:
    """Arrays for the model's inputs from an .npz, or seeded random normal data (path None)."""
    from ..frontend import arrays as npz

    if path is None:
        return {info.name: np.random.default_rng(i).standard_normal(info.shape).astype(info.dtype)
                for i, info in enumerate(infos)}
    given = npz.load(path, "inputs")
    missing = [i.name for i in infos if i.name not in given]
    if missing:
        raise InputError(f"inputs {path}: no array for input(s) {missing}; it has {sorted(given)}")
    out = {}
    for info in infos:
        a = given[info.name]
        if tuple(a.shape) != info.shape:
            raise InputError(f"inputs {path}: {info.name!r} has shape {tuple(a.shape)}, the model takes {info.shape}")
        out[info.name] = a.astype(info.dtype, copy=False)
    return out


def compare_with_onnx(outputs: dict[str, np.ndarray], onnx_model, feed: dict[str, np.ndarray]) -> dict[str, float]:
    """Relative error of every output against onnxruntime running `onnx_model` on `feed`."""
    from ..bench.timing import ort_session, relative_error

    ref = ort_session(onnx_model).run(None, feed)
    return {name: relative_error(y, r) for (name, y), r in zip(outputs.items(), ref)}


def run(package, inputs=None, *, device: str | None = None, repeat: int = 0, outputs=None,
        compare_onnx=None, session=None) -> RunResult:
    """Run a package once (and `repeat` timed samples); write outputs to an .npz if asked.
    inputs: an .npz path, a {name: array} dict, or None for seeded random data.
    compare_onnx: an ONNX model to run in onnxruntime on the same inputs (errors in the result).
    session: where to run (runtime.session; default this machine)."""
    from .session import LoadedModel

    model = LoadedModel(package, device, session)
    feed = inputs if isinstance(inputs, dict) else load_inputs(inputs, model.package.inputs)
    result = RunResult(model(feed), notes=list(model.notes))
    if compare_onnx is not None:
        result.errors = compare_with_onnx(result.outputs, compare_onnx, feed)
    if repeat > 0:
        result.latency_ms = model.time(feed, repeat=repeat)
    if outputs is not None:
        from ..frontend import arrays as npz
        from ..outputs import output_set

        with output_set() as out:
            npz.save(out.path(outputs), result.outputs)
    return result
