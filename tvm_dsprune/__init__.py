"""tvm-dsprune: GPU-aware pruning of depthwise-separable CNNs, compiled to sparse kernels with TVM.

The mask step (`prune`) is numpy + onnx and imports no TVM.
"""
import os as _os

__version__ = "0.1.0"

# TVM's CPU thread pool uses half the hardware threads unless told otherwise (it assumes
# hyper-threading); on this project's machines that halves every CPU kernel. Use every CPU this
# process may run on, unless the user set TVM_NUM_THREADS. It must be set before TVM's pool starts.
if "TVM_NUM_THREADS" not in _os.environ:
    _cpus = len(_os.sched_getaffinity(0)) if hasattr(_os, "sched_getaffinity") else (_os.cpu_count() or 1)
    _os.environ["TVM_NUM_THREADS"] = str(_cpus)


def __getattr__(name):
    # Lazy: `import tvm_dsprune` must stay cheap and TVM-free.
    if name == "prune":
        from .pruning.onnx_prune import prune
        return prune
    if name == "compile":
        from .compile_model import compile
        return compile
    if name == "run":
        from .run_model import run
        return run
    raise AttributeError(f"module 'tvm_dsprune' has no attribute {name!r}")


__all__ = ["prune", "compile", "run", "__version__"]
