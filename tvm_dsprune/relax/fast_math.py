"""Vectorisable exp and sigmoid for CPU targets.

LLVM lowers `exp` to a libm call per lane, so every SiLU (x * sigmoid(x)) and squeeze-excite
gate of EfficientNet ran a scalar loop. Legalizing them with TOPI's fast_exp (a polynomial,
relative error 4e-6 over (-80, 80), 0 below -87) keeps them vectorised and fused. onnxruntime's
CPU kernels approximate the logistic function the same way.
"""
from __future__ import annotations

import tvm
from tvm import te, topi


def _fast_sigmoid(bb, call):
    def compute(x):
        e = topi.fast_exp(topi.negative(x))
        one = tvm.tirx.const(1, x.dtype)
        return te.compute(x.shape, lambda *i: one / (one + e(*i)), name="fast_sigmoid")

    return bb.call_te(compute, call.args[0], primfunc_name_hint="fast_sigmoid")


def _fast_exp(bb, call):
    return bb.call_te(topi.fast_exp, call.args[0], primfunc_name_hint="fast_exp")


def legalize_map(target) -> dict | None:
    """LegalizeOps overrides for `target` (CPU only; GPUs have a fast exp of their own)."""
    if "cpu" not in target.keys:
        return None
    return {"relax.sigmoid": _fast_sigmoid, "relax.exp": _fast_exp}
