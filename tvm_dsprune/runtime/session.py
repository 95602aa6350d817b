"""Where a package runs, behind one interface, and the model loaded there.

A Session owns a place to run: `LocalSession` is this machine. (A board reached over TVM RPC is
another Session with the same three methods.) `LoadedModel` unpacks a package, loads its
library through the session, and runs and times the Relax VM on the session's device.
"""
from __future__ import annotations

import tempfile

import numpy as np

from .. import targets
from ..errors import InputError

DEVICES = ("cpu", "cuda", "opencl")


class Session:
    """A place to run packages: load a library, give a device, and close."""

    name = "session"

    def load_library(self, path: str):
        raise NotImplementedError

    def device(self, kind: str):
        raise NotImplementedError

    def close(self) -> None:
        pass


class LocalSession(Session):
    """This machine."""

    name = "this machine"

    def load_library(self, path: str):
        import tvm

        return tvm.runtime.load_module(path)

    def device(self, kind: str):
        import tvm

        return tvm.device(kind, 0)


class LoadedModel:
    """A package loaded on a device of a session, callable with numpy inputs."""

    def __init__(self, package_path, device: str | None = None, session: Session | None = None):
        from tvm.runtime import vm

        from . import package

        self.session = session or LocalSession()
        self._tmp = tempfile.TemporaryDirectory()
        self.package = package.load(package_path, self._tmp.name)
        kind = self.package.target_kind
        native = targets.device_of_kind(kind) or "cpu"
        dev_name = device or native
        if dev_name not in DEVICES:
            raise InputError(f"--device {dev_name!r}: choose {', '.join(DEVICES)}")
        if dev_name != native:
            raise InputError(f"package {package_path} is built for {kind}; it cannot run on {dev_name}")
        self.device = self.session.device(dev_name)
        if not self.device.exist:
            raise InputError(f"package {package_path} is built for {kind}, and {self.session.name} has no "
                             f"{dev_name} device: run it where the device is (e.g. over RPC)")
        self.notes: list[str] = []          # what the user should know about how it runs here
        if dev_name == "cuda":
            self.notes = self.package.check_gpu(self.device.compute_version, self.device.device_name or "this GPU")
        if self.package.library.suffix != ".so" and isinstance(self.session, LocalSession):
            raise InputError(f"package {package_path} holds object files for another machine "
                             f"({self.package.meta.get('target_host')}); link it there")
        try:
            lib = self.session.load_library(str(self.package.library))
        except Exception as err:  # noqa: BLE001 - the loader raises for modules of another machine
            raise InputError(f"package {package_path}: the library cannot be loaded on {self.session.name}: "
                             f"{str(err).strip().splitlines()[-1] if str(err).strip() else err}") from None
        self.library = lib
        self.vm = vm.VirtualMachine(lib, self.device)

    def _args(self, inputs: dict[str, np.ndarray]) -> list:
        import tvm

        return [tvm.runtime.tensor(inputs[i.name], self.device) for i in self.package.inputs]

    def __call__(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        res = self.vm["main"](*self._args(inputs))
        res = list(res) if not hasattr(res, "numpy") else [res]
        return {o.name: r.numpy() for o, r in zip(self.package.outputs, res)}

    def runner(self, inputs: dict[str, np.ndarray]):
        """A no-argument callable that runs the model once on device-resident inputs."""
        args = self._args(inputs)
        main = self.vm["main"]

        def call():
            main(*args)
            self.device.sync()
        return call

    def time(self, inputs: dict[str, np.ndarray], repeat: int = 10, number: int = 0,
             min_repeat_ms: int = 0) -> list[float]:
        """Latency of one call in ms, `repeat` samples (each the mean of `number` calls; 0 = auto),
        measured where the model runs (on the board, for a remote session)."""
        args = self._args(inputs)
        if number <= 0:
            self.vm["main"](*args)
            t = self.vm.time_evaluator("main", self.device, number=1, repeat=1)(*args).mean
            number = max(1, min(100, int(0.05 / max(t, 1e-6))))
        ev = self.vm.time_evaluator("main", self.device, number=number, repeat=repeat, min_repeat_ms=min_repeat_ms)
        return [r * 1e3 for r in ev(*args).results]
