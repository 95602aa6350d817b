"""tvm-dsprune: GPU-aware pruning of depthwise-separable CNNs, compiled to sparse kernels with TVM.

The mask step (`prune`) is numpy + onnx and imports no TVM.
"""
__version__ = "0.1.0"


def __getattr__(name):
    # Lazy: `import tvm_dsprune` must stay cheap and TVM-free.
    if name == "prune":
        from .pruning.onnx_prune import prune
        return prune
    raise AttributeError(f"module 'tvm_dsprune' has no attribute {name!r}")


__all__ = ["prune", "__version__"]
