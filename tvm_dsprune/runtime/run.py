"""run(): load a package, feed inputs, return outputs, the median latency and, when asked, the
comparison with onnxruntime on the source model, judged as numpy.allclose (rtol, atol) so it can
gate a CI job.

Inputs come from an .npz (keys = input names, loaded without pickles) or are seeded random
normal data. Latency is TVM's time_evaluator median over `repeat` runs of `number` calls.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import CompileError, InputError, MismatchError
from ..frontend.model_io import TensorInfo


RTOL = 1e-4          # the correctness contract of an fp32 build
ATOL = 1e-5          # values this close to zero count as equal (saturated outputs: 0 vs 1e-17)


@dataclass
class Comparison:
    """One output against the reference, judged as numpy.allclose: every value within
    atol + rtol * |ref| (NaN only where the reference is NaN)."""
    name: str
    max_abs: float               # max |y - ref|
    max_rel: float               # max |y - ref| / |ref| over the values with |ref| > atol
    mismatched: int              # values outside the tolerance
    size: int
    worst: tuple                 # (index, value, reference) of the largest excess
    rtol: float
    atol: float
    scale: float = 1.0           # max |ref|

    @property
    def ok(self) -> bool:
        return self.mismatched == 0

    @property
    def scaled_error(self) -> float:
        """max |y - ref| / max |ref|: the figure the benchmarks report."""
        return self.max_abs / (self.scale or 1.0)

    def describe(self) -> str:
        return (f"max abs error {self.max_abs:.2e}, max rel error {self.max_rel:.2e} "
                f"(rtol {self.rtol:g}, atol {self.atol:g})")


@dataclass
class RunResult:
    outputs: dict[str, np.ndarray]
    latency_ms: list[float] = field(default_factory=list)
    errors: dict[str, float] = field(default_factory=dict)     # output -> max|y - ref| / max|ref|
    comparisons: dict[str, Comparison] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)             # input casts, how the package runs here

    @property
    def median_ms(self) -> float | None:
        return float(np.median(self.latency_ms)) if self.latency_ms else None


def load_inputs(path, infos: list[TensorInfo], notes: list[str] | None = None) -> dict[str, np.ndarray]:
    """Arrays for the model's inputs from an .npz, or seeded random normal data (path None).
    An array of another type of the same kind (float64 for float32) is cast, with one note
    appended to `notes`; one of another kind (float for int) is refused."""
    from ..frontend import arrays as npz

    if path is None:
        return {info.name: np.random.default_rng(i).standard_normal(info.shape).astype(info.dtype)
                for i, info in enumerate(infos)}
    given = npz.load(path, "inputs file")
    missing = [i.name for i in infos if i.name not in given]
    if missing:
        raise InputError(f"inputs file {path}: no array for input(s) {missing}; it has {sorted(given)}")
    out, cast = {}, []
    for info in infos:
        a = given[info.name]
        if tuple(a.shape) != info.shape:
            raise InputError(f"inputs file {path}: {info.name!r} has shape {tuple(a.shape)}, the model takes "
                             f"{info.shape}")
        if a.dtype != np.dtype(info.dtype):
            if not np.can_cast(a.dtype, info.dtype, casting="same_kind"):
                raise InputError(f"inputs file {path}: {info.name!r} is {a.dtype}, the model takes {info.dtype}")
            cast.append(f"{info.name!r} from {a.dtype} to {info.dtype}")
        out[info.name] = a.astype(info.dtype, copy=False)
    if cast and notes is not None:
        notes.append(f"inputs file {path}: cast {', '.join(cast)}, the type the model takes")
    return out


def compare(name: str, y: np.ndarray, ref: np.ndarray, rtol: float = RTOL, atol: float = ATOL) -> Comparison:
    """`y` against `ref` as numpy.allclose(y, ref, rtol, atol, equal_nan=True) judges them."""
    y = np.asarray(y, np.float64)
    ref = np.asarray(ref, np.float64)
    if y.shape != ref.shape:
        raise CompileError(f"output {name!r} has shape {y.shape}; onnxruntime gives {ref.shape}")
    close = np.isclose(y, ref, rtol=rtol, atol=atol, equal_nan=True)
    with np.errstate(invalid="ignore"):
        diff = np.where(np.isnan(y) & np.isnan(ref), 0.0, np.abs(y - ref))
        excess = np.where(close, -np.inf, np.nan_to_num(diff - (atol + rtol * np.abs(ref)), nan=np.inf))
    big = np.abs(ref) > atol
    max_abs = float(np.max(diff)) if diff.size else 0.0
    if np.isnan(diff).any():
        max_abs = float("nan")
    max_rel = float(np.max(diff[big] / np.abs(ref[big]))) if big.any() else 0.0
    at = np.unravel_index(int(np.argmax(excess)), y.shape) if y.size else ()
    worst = (tuple(int(i) for i in at), float(y[at]), float(ref[at])) if y.size else ((), 0.0, 0.0)
    scale = float(np.nanmax(np.abs(ref))) if ref.size and not np.isnan(ref).all() else 1.0
    return Comparison(name, max_abs, max_rel, int((~close).sum()), int(y.size), worst, rtol, atol, scale)


def reference_model(onnx_model):
    """The ONNX model to compare with, loaded and checked (InputError for anything else)."""
    from pathlib import Path

    from ..frontend import onnx_model as onnx_io

    return onnx_io.load(onnx_model) if isinstance(onnx_model, (str, Path)) else onnx_model


def compare_with_onnx(outputs: dict[str, np.ndarray], onnx_model, feed: dict[str, np.ndarray],
                      rtol: float = RTOL, atol: float = ATOL) -> dict[str, Comparison]:
    """Every output against onnxruntime running `onnx_model` (path or ModelProto) on `feed`."""
    from ..bench.timing import ort_session

    proto = reference_model(onnx_model)
    try:
        sess = ort_session(proto.SerializeToString())
    except Exception as err:  # noqa: BLE001 - onnxruntime raises its own error types
        raise InputError(f"onnxruntime cannot load the model to compare with: {_last_line(err)}") from None
    takes = {i.name for i in sess.get_inputs()}
    if takes != set(feed):
        raise InputError(f"the model to compare with takes inputs {sorted(takes)}; the package takes "
                         f"{sorted(feed)}")
    ref = sess.run(None, feed)
    if len(ref) != len(outputs):
        raise InputError(f"the model to compare with has {len(ref)} output(s); the package has {len(outputs)}")
    return {name: compare(name, y, r, rtol, atol) for (name, y), r in zip(outputs.items(), ref)}


def _last_line(err: BaseException) -> str:
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    return lines[-1] if lines else type(err).__name__


def mismatch_message(c: Comparison) -> str:
    index, value, reference = c.worst
    return (f"output {c.name!r} differs from onnxruntime: {c.mismatched} of {c.size} values outside "
            f"atol + rtol*|ref|; {c.describe()}; worst at {list(index)}: {value:.6g} vs {reference:.6g}")


def run(package, inputs=None, *, device: str | None = None, repeat: int = 0, outputs=None,
        compare_onnx=None, rtol: float = RTOL, atol: float = ATOL, session=None) -> RunResult:
    """Run a package once (and `repeat` timed samples); write outputs to an .npz if asked.
    inputs: an .npz path, a {name: array} dict, or None for seeded random data.
    compare_onnx: an ONNX model to run in onnxruntime on the same inputs; an output outside
        rtol/atol (as numpy.allclose) raises MismatchError, and no output file is written.
    session: where to run (runtime.session: this machine by default, or rpc.connect(...) for a
        board, where the latency is then measured); onnxruntime always runs on this machine."""
    from ..frontend import arrays as npz
    from ..outputs import output_set
    from .session import LoadedModel

    if rtol < 0 or atol < 0:
        raise InputError(f"tolerances must be >= 0 (rtol {rtol:g}, atol {atol:g})")
    with output_set(outputs) as out:                   # checked before the work
        reference = reference_model(compare_onnx) if compare_onnx is not None else None
        model = LoadedModel(package, device, session)
        try:
            notes: list[str] = list(model.notes)
            feed = inputs if isinstance(inputs, dict) else load_inputs(inputs, model.package.inputs, notes)
            result = RunResult(model(feed), notes=notes)
            if repeat > 0:
                result.latency_ms = model.time(feed, repeat=repeat)
        finally:
            model.close()
        if reference is not None:
            result.comparisons = compare_with_onnx(result.outputs, reference, feed, rtol, atol)
            result.errors = {n: c.scaled_error for n, c in result.comparisons.items()}
            bad = [c for c in result.comparisons.values() if not c.ok]
            if bad:
                raise MismatchError(mismatch_message(bad[0]))
        if outputs is not None:
            npz.save(out.path(outputs), result.outputs)
    return result

