"""run(): load a package, feed inputs, return outputs and the median latency.

Inputs come from an .npz (keys = input names, loaded without pickles) or are seeded random
normal data. Latency is TVM's time_evaluator median over `repeat` runs of `number` calls.
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass, field

import numpy as np

from .errors import InputError
from .model_io import TensorInfo

DEVICES = {"llvm": "cpu", "c": "cpu", "cuda": "cuda", "opencl": "opencl"}


@dataclass
class RunResult:
    outputs: dict[str, np.ndarray]
    latency_ms: list[float] = field(default_factory=list)

    @property
    def median_ms(self) -> float | None:
        return float(np.median(self.latency_ms)) if self.latency_ms else None


def load_inputs(path, infos: list[TensorInfo]) -> dict[str, np.ndarray]:
    from .pruning.masks_io import load as load_npz

    arrays = load_npz(path) if path is not None else {}
    if path is not None:
        missing = [i.name for i in infos if i.name not in arrays]
        if missing:
            raise InputError(f"inputs {path}: no array for input(s) {missing}; it has {sorted(arrays)}")
    out = {}
    for i, info in enumerate(infos):
        if path is None:
            rng = np.random.default_rng(i)
            out[info.name] = rng.standard_normal(info.shape).astype(info.dtype)
            continue
        a = arrays[info.name]
        if tuple(a.shape) != info.shape:
            raise InputError(f"inputs {path}: {info.name!r} has shape {tuple(a.shape)}, the model takes {info.shape}")
        out[info.name] = a.astype(info.dtype, copy=False)
    return out


class LoadedModel:
    """A package loaded on a device, callable with numpy inputs."""

    def __init__(self, package_path, device: str | None = None):
        import tvm
        from tvm import relax

        from . import package

        self._tmp = tempfile.TemporaryDirectory()
        self.package = package.load(package_path, self._tmp.name)
        kind = self.package.target_kind
        dev_name = device or DEVICES.get(kind, "cpu")
        if dev_name not in ("cpu", "cuda", "opencl"):
            raise InputError(f"--device {dev_name!r}: choose cpu, cuda or opencl")
        if DEVICES.get(kind) != dev_name:
            raise InputError(f"package {package_path} is built for {kind}; it cannot run on {dev_name}")
        self.device = tvm.device(dev_name, 0)
        if not self.device.exist:
            raise InputError(f"package {package_path} is built for {kind}, and this machine has no {dev_name} "
                             "device: run it where the device is (e.g. over RPC)")
        if self.package.library.suffix != ".so":
            raise InputError(f"package {package_path} holds object files for another machine "
                             f"({self.package.meta.get('target_host')}); link it there")
        try:
            lib = tvm.runtime.load_module(str(self.package.library))
        except Exception as err:  # noqa: BLE001 - the loader raises for modules of another machine
            raise InputError(f"package {package_path}: the library cannot be loaded here: {err}") from None
        self.vm = relax.VirtualMachine(lib, self.device)

    def __call__(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import tvm

        args = [tvm.runtime.tensor(inputs[i.name], self.device) for i in self.package.inputs]
        res = self.vm["main"](*args)
        res = list(res) if not hasattr(res, "numpy") else [res]
        return {o.name: r.numpy() for o, r in zip(self.package.outputs, res)}

    def runner(self, inputs: dict[str, np.ndarray]):
        """A no-argument callable that runs the model once on device-resident inputs."""
        import tvm

        args = [tvm.runtime.tensor(inputs[i.name], self.device) for i in self.package.inputs]
        main = self.vm["main"]

        def call():
            main(*args)
            self.device.sync()
        return call

    def time(self, inputs: dict[str, np.ndarray], repeat: int = 10, number: int = 0,
             min_repeat_ms: int = 0) -> list[float]:
        """Latency of one call in ms, `repeat` samples (each the mean of `number` calls; 0 = auto)."""
        import tvm

        args = [tvm.runtime.tensor(inputs[i.name], self.device) for i in self.package.inputs]
        if number <= 0:
            self.vm["main"](*args)
            t = self.vm.time_evaluator("main", self.device, number=1, repeat=1)(*args).mean
            number = max(1, min(100, int(0.05 / max(t, 1e-6))))
        ev = self.vm.time_evaluator("main", self.device, number=number, repeat=repeat, min_repeat_ms=min_repeat_ms)
        return [r * 1e3 for r in ev(*args).results]


def run(package, inputs=None, *, device: str | None = None, repeat: int = 0, outputs=None) -> RunResult:
    """Run a package once (and `repeat` timed samples); write outputs to an .npz if asked.
    inputs: an .npz path, a {name: array} dict, or None for seeded random data."""
    model = LoadedModel(package, device)
    feed = inputs if isinstance(inputs, dict) else load_inputs(inputs, model.package.inputs)
    result = RunResult(model(feed))
    if repeat > 0:
        result.latency_ms = model.time(feed, repeat=repeat)
    if outputs is not None:
        from .outputs import output_set

        with output_set() as out:
            with open(out.path(outputs), "wb") as f:
                np.savez(f, **result.outputs)
    return result
