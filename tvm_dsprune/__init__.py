"""tvm-dsprune: pruned depthwise-separable CNNs compiled to sparse kernels with Apache TVM.

The data flow, one folder per stage: frontend (ONNX in) -> pruning (the mask step, numpy, no
TVM) -> relax (sparsify passes, the one lowering path; sparse/ and kernels/ hold the formats
and TIR) -> schedules (tvm_dsprune.schedules) -> build (compile, package) -> runtime (run
locally or remotely); tuning and bench beside them. `targets` is the one home of a target.
"""
import os as _os

from .targets import cpu_count as _cpu_count

__version__ = "0.1.0"

# TVM's CPU thread pool uses half the hardware threads unless told otherwise (it assumes
# hyper-threading); on this project's machines that halves every CPU kernel. Use every CPU this
# process may run on, unless the user set TVM_NUM_THREADS. It must be set before TVM's pool starts.
_os.environ.setdefault("TVM_NUM_THREADS", str(_cpu_count()))


def __getattr__(name):
    # Lazy: `import tvm_dsprune` must stay cheap and TVM-free.
    if name == "prune":
        from .pruning.onnx_prune import prune
        return prune
    if name == "compile":
        from .build.compile import compile
        return compile
    if name == "run":
        from .runtime.run import run
        return run
    raise AttributeError(f"module 'tvm_dsprune' has no attribute {name!r}")


__all__ = ["prune", "compile", "run", "__version__"]
