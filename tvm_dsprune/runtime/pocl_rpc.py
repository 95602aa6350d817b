"""OpenCL packages over RPC on a PoCL server: Mali kernels run remotely without a Mali board.

TVM's wheel has no OpenCL runtime, so its stock RPC server cannot run an OpenCL package's
library. This server is TVM's own RPC server (same protocol, tracker and keys) with four
functions registered in it that run an uploaded package's kernels through the PoCL harness
(pocl.py): the package carries its scheduled Relax module (ir.json), the harness lowers it the
way `tvm.compile` does and replays every OpenCL kernel on PoCL. The client side is
`RemotePoCLModel`, which `LoadedModel` uses when the session's server offers these functions,
so `tvm-dsprune run PKG --rpc-tracker ... --rpc-key ...` is the same command as for a board.

    python -m tvm_dsprune.runtime.pocl_rpc --host 127.0.0.1 --port 9090 --tracker 127.0.0.1:9190 --key pocl

Timing is PoCL's on this CPU, measured in the server: it checks the path, not a GPU's speed.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from ..errors import InputError

PREFIX = "tvm_dsprune.pocl."
_MODELS: dict[int, tuple] = {}          # in the server's session process: handle -> (model, package)


# ---- the server side ------------------------------------------------------------------------------
def _load(path: str) -> int:
    """Load an uploaded package (path in the session's folder); returns a handle."""
    import tvm

    from . import package

    handle = len(_MODELS) + 1
    folder = Path.cwd() / f"dsprune-pocl-{handle}"    # the session's own folder, removed when it ends
    folder.mkdir()
    pkg = package.load(path, folder)
    if pkg.ir is None:
        raise InputError(f"package {path} carries no scheduled module (ir.json): compile it again with this "
                         "tvm-dsprune to run it on a PoCL server")
    from .pocl import OpenCLModel

    model = OpenCLModel(tvm.ir.load_json(pkg.ir.read_text()), tvm.target.Target(pkg.meta["target"]))
    _MODELS[handle] = (model, pkg)
    return handle


def _split(handle: int, tensors) -> tuple:
    model, pkg = _MODELS[int(handle)]
    n = len(pkg.inputs)
    return model, [t.numpy() for t in tensors[:n]], list(tensors[n:])


def _run(handle: int, *tensors) -> None:
    """Run the model on the input tensors; write its outputs into the output tensors."""
    model, inputs, outs = _split(handle, tensors)
    result = model(*inputs)
    result = result if isinstance(result, list) else [result]
    for out, y in zip(outs, result):
        out.copyfrom(np.ascontiguousarray(y, dtype=out.dtype))


def _time(handle: int, number: int, repeat: int, *tensors):
    """`repeat` samples in seconds, each the mean of `number` runs, as a float64 tensor."""
    import tvm

    model, inputs, _ = _split(handle, tensors)
    model(*inputs)
    samples = []
    for _ in range(int(repeat)):
        t = time.perf_counter()
        for _ in range(int(number)):
            model(*inputs)
        samples.append((time.perf_counter() - t) / int(number))
    return tvm.runtime.tensor(np.array(samples, "float64"))


def _device() -> str:
    from .pocl import pocl_context

    return ", ".join(d.name for d in pocl_context().devices)


def register() -> None:
    """Register the functions in the RPC server's process (TVM's server_init_callback)."""
    import tvm_ffi

    for name, fn in (("load", _load), ("run", _run), ("time", _time), ("device", _device)):
        tvm_ffi.register_global_func(PREFIX + name, fn, override=True)


def serve(host: str, port: int, port_end: int | None = None, tracker: str | None = None, key: str = "pocl"):
    """Start the server (returns TVM's Server; its process runs until terminated)."""
    from tvm import rpc

    from .pocl import pocl_context
    from .rpc import parse_address

    pocl_context()                                   # PoCL missing: say so here, not per session
    tracker_addr = parse_address(tracker, "--tracker") if tracker else None
    return rpc.Server(host=host, port=port, port_end=port_end or port + 1, tracker_addr=tracker_addr,
                      key=key if tracker else "", server_init_callback=register)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m tvm_dsprune.runtime.pocl_rpc",
                                description="A TVM RPC server that runs OpenCL packages' kernels on PoCL.")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=9090, help="port (default 9090)")
    p.add_argument("--port-end", type=int, help="search ports up to this one (default: --port only)")
    p.add_argument("--tracker", metavar="HOST:PORT", help="register with this RPC tracker")
    p.add_argument("--key", default="pocl", help="key to register under (default pocl)")
    args = p.parse_args(argv)
    try:
        server = serve(args.host, args.port, args.port_end, args.tracker, args.key)
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"PoCL RPC server on {args.host}:{server.port}"
          + (f", registered with {args.tracker} under key {args.key!r}" if args.tracker else ""), flush=True)
    try:
        server.proc.join()
    except KeyboardInterrupt:
        server.terminate()
    return 0


# ---- the client side ------------------------------------------------------------------------------
class RemotePoCLModel:
    """An OpenCL package loaded on a PoCL server of a session; called like LoadedModel."""

    def __init__(self, session, package):
        self.session, self.package = session, package
        self._load, self._run, self._time = (session.get_function(PREFIX + n) for n in ("load", "run", "time"))
        if package.ir is None:
            raise InputError(f"package {package.path} carries no scheduled module (ir.json): compile it "
                             "again with this tvm-dsprune to run it on a PoCL server")
        self.device = session.device("cpu")
        with session.step(f"uploading {package.path.name}"):
            name = f"dsprune-pocl-{int(time.time() * 1e6)}.tar"
            session.remote.upload(str(package.path), name)
        with session.step("loading the package on PoCL"):
            self.handle = self._load(name)

    def _tensors(self, inputs: dict[str, np.ndarray], outputs: bool) -> list:
        import tvm

        with self.session.step("sending the inputs"):
            args = [tvm.runtime.tensor(np.ascontiguousarray(inputs[i.name], i.dtype), self.device)
                    for i in self.package.inputs]
            if outputs:
                args += [tvm.runtime.empty(o.shape, o.dtype, self.device) for o in self.package.outputs]
            return args

    def __call__(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        args = self._tensors(inputs, outputs=True)
        with self.session.step("running the kernels on PoCL"):
            self._run(self.handle, *args)
            outs = args[len(self.package.inputs):]
            return {o.name: t.numpy() for o, t in zip(self.package.outputs, outs)}

    def time(self, inputs: dict[str, np.ndarray], repeat: int = 10, number: int = 0) -> list[float]:
        args = self._tensors(inputs, outputs=False)
        with self.session.step("timing the kernels on PoCL"):
            secs = self._time(self.handle, max(1, number), repeat, *args).numpy()
        return [float(s) * 1e3 for s in secs]


if __name__ == "__main__":
    sys.exit(main())
