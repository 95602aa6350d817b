"""Where a package runs, behind one interface, and the model loaded there.

A Session owns a place to run: `LocalSession` is this machine; `rpc.RPCSession` a board reached
over TVM RPC. Both load a library, give a device, say their CPU architecture, and run remote
steps under `step()`, which turns a lost connection into one clear message. `LoadedModel`
unpacks a package, checks that it can run there (device, architecture), loads its library
through the session, and runs and times the Relax VM on the session's device. An OpenCL
package on a PoCL server (pocl_rpc.py) runs its kernels there instead of through the VM.
"""
from __future__ import annotations

import contextlib
import tempfile

import numpy as np

from .. import targets
from ..errors import InputError


def article(word: str) -> str:
    """'an' before a vowel sound (an aarch64 board, an x86_64 machine), else 'a'."""
    return "an" if word[:1].lower() in "aeiox" else "a"


DEVICES = ("cpu", "cuda", "opencl")


class Session:
    """A place to run packages: load a library, give a device, and close."""

    name = "session"

    def load_library(self, path: str):
        raise NotImplementedError

    def device(self, kind: str):
        raise NotImplementedError

    def arch(self) -> str | None:
        """The CPU architecture code runs on here (x86_64, aarch64, ...); None if unknown."""
        return None

    def wrong_arch_hint(self, arch: str) -> str:
        return f"run it on {article(arch)} {arch} machine"

    def get_function(self, name: str):
        """A function registered where the session runs, or None."""
        return None

    def step(self, what: str):
        """A context for one step that talks to the place (remote sessions map failures)."""
        return contextlib.nullcontext()

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class LocalSession(Session):
    """This machine."""

    name = "this machine"

    def load_library(self, path: str):
        import tvm

        try:
            return tvm.runtime.load_module(path)
        except Exception as err:  # noqa: BLE001 - the loader raises anything for a library it cannot load
            text = str(err).strip()
            raise InputError(f"the library cannot be loaded on {self.name}: "
                             f"{text.splitlines()[-1] if text else type(err).__name__}") from None

    def device(self, kind: str):
        import tvm

        return tvm.device(kind, 0)

    def arch(self) -> str:
        return targets.machine_triple_arch()

    def wrong_arch_hint(self, arch: str) -> str:
        return f"run it on {article(arch)} {arch} board over RPC (tvm-dsprune run PKG --rpc-tracker HOST:PORT --rpc-key KEY)"


class LoadedModel:
    """A package loaded on a device of a session, callable with numpy inputs."""

    def __init__(self, package_path, device: str | None = None, session: Session | None = None):
        from . import package

        self.session = session or LocalSession()
        self._tmp = tempfile.TemporaryDirectory()
        self.package = package.load(package_path, self._tmp.name)
        self.library = self.vm = self.remote_pocl = None
        self.notes: list[str] = []          # what the user should know about how it runs here
        kind = self.package.target_kind
        native = targets.device_of_kind(kind) or "cpu"
        dev_name = device or native
        if dev_name not in DEVICES:
            raise InputError(f"--device {dev_name!r}: choose {', '.join(DEVICES)}")
        if dev_name != native:
            raise InputError(f"package {package_path} is built for {kind}; it cannot run on {dev_name}")
        if dev_name == "opencl" and self.session.get_function("tvm_dsprune.pocl.load") is not None:
            from .pocl_rpc import RemotePoCLModel

            self.remote_pocl = RemotePoCLModel(self.session, self.package)
            self.device = self.remote_pocl.device
            return
        self.device = self.session.device(dev_name)
        with self.session.step(f"checking its {dev_name} device"):
            exists = self.device.exist
        if not exists:
            raise InputError(f"package {package_path} is built for {kind}, and {self.session.name} has no "
                             f"{dev_name} device: run it where the device is (e.g. over RPC)")
        if dev_name == "cuda":
            with self.session.step("reading its GPU"):
                compute_version, gpu_name = self.device.compute_version, self.device.device_name
            self.notes = self.package.check_gpu(compute_version, gpu_name or "this GPU")
        here, arch = self.session.arch(), self.package.arch
        if here and arch != here:
            raise InputError(f"package {package_path} holds {arch} code (target "
                             f"{self.package.meta.get('target_name') or kind}); {self.session.name} is {here}: "
                             + self.session.wrong_arch_hint(arch))
        try:
            self.library = self.session.load_library(str(self.package.library))
        except InputError as err:
            raise type(err)(f"package {package_path}: {err}") from None
        from tvm.runtime.vm import VirtualMachine     # the runtime's own: a runtime-only TVM has it

        with self.session.step("starting the Relax VM"):
            self.vm = VirtualMachine(self.library, self.device)

    def _args(self, inputs: dict[str, np.ndarray]) -> list:
        import tvm

        with self.session.step("sending the inputs"):
            return [tvm.runtime.tensor(inputs[i.name], self.device) for i in self.package.inputs]

    def __call__(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self.remote_pocl is not None:
            return self.remote_pocl(inputs)
        args = self._args(inputs)
        with self.session.step("running the model"):
            res = self.vm["main"](*args)
            res = list(res) if not hasattr(res, "numpy") else [res]
            return {o.name: r.numpy() for o, r in zip(self.package.outputs, res)}

    def runner(self, inputs: dict[str, np.ndarray]):
        """A no-argument callable that runs the model once on device-resident inputs."""
        if self.vm is None:
            raise InputError("a model on a PoCL server is timed there (LoadedModel.time), not called in a loop")
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
        if self.remote_pocl is not None:
            return self.remote_pocl.time(inputs, repeat=repeat, number=number)
        args = self._args(inputs)
        with self.session.step("timing the model"):
            if number <= 0:
                self.vm["main"](*args)
                t = self.vm.time_evaluator("main", self.device, number=1, repeat=1)(*args).mean
                number = max(1, min(100, int(0.05 / max(t, 1e-6))))
            ev = self.vm.time_evaluator("main", self.device, number=number, repeat=repeat,
                                        min_repeat_ms=min_repeat_ms)
            return [r * 1e3 for r in ev(*args).results]

    def close(self) -> None:
        """Drop the remote objects (the session itself stays open: its owner closes it)."""
        self.vm = self.library = self.remote_pocl = None
        self._tmp.cleanup()
