"""Vectorisable exp and sigmoid for CPU targets.

LLVM lowers `exp` to a libm call per lane, so every SiLU (x * sigmoid(x)) and squeeze-excite
gate of EfficientNet ran a scalar loop. Here they are legalized with an exp of a few vector
operations (range reduction to 2^n * e^f with |f| <= ln2 / 2, ln2 split in two so that the
reduction is exact, a degree-6 polynomial for e^f, 2^n written into the exponent bits), which
keeps them vectorised and fused into the kernels around them. Its relative error is below 3e-7 over the clamped range (e^-87 to e^88), a few
float32 rounding steps; TOPI's fast_exp, used before, is as accurate but costs about 1.6x as
many cycles per vector (a higher-degree polynomial, a final max). onnxruntime's CPU kernels
approximate the logistic function with a polynomial too.
"""
from __future__ import annotations

import tvm
from tvm import te, topi

# Taylor coefficients of e^f from the highest power down (f^6 / 6! ... f + 1); on
# |f| <= ln2 / 2 the first term left out, f^7 / 7!, is 1.2e-7.
_EXP_TAYLOR = (1 / 720, 1 / 120, 1 / 24, 1 / 6, 1 / 2, 1.0, 1.0)
_EXP_MAX, _EXP_MIN = 88.0, -87.0     # 2^n stays a normal float32 (n in [-126, 127])


def exp_poly(x):
    """e^x in float32 vector arithmetic (TE expression); inputs beyond the clamp saturate.

    The clamped input and 2^n's exponent are written out at each use, not let-bound: TVM's
    flop estimator, which MetaSchedule's task scheduler runs on every task, cannot count a
    let-bound expression, so every function with a SiLU epilogue would stay untuned. The
    repeated subexpressions cost nothing measurable: EfficientNet-B0 ran equally fast both
    ways (paired ratio of alternating runs 0.994-0.999)."""
    f32 = lambda v: tvm.tirx.const(v, "float32")          # noqa: E731
    xc = te.max(te.min(x, f32(_EXP_MAX)), f32(_EXP_MIN))
    n = te.floor(xc * f32(1.4426950408889634) + f32(0.5))                       # round(x / ln2)
    f = xc - n * f32(0.693359375) - n * f32(-2.12194440e-4)  # ln2 in two parts (Cody-Waite):
    #                                 n * ln2 exact in the first, so large n keep f's accuracy
    y = f32(_EXP_TAYLOR[0])
    for c in _EXP_TAYLOR[1:]:
        y = y * f + f32(c)
    two_n = tvm.tirx.reinterpret("float32", (n.astype("int32") + 127) << 23)
    return two_n * y


def sigmoid_poly(x):
    """1 / (1 + e^-x) on exp_poly (TE expression)."""
    one = tvm.tirx.const(1, "float32")
    return one / (one + exp_poly(-x))


def _legalize(name: str, value, topi_op):
    """A LegalizeOps function: float32 tensors elementwise through `value` (a PrimFunc named
    `name`), other dtypes through TOPI's `topi_op`."""
    def apply(bb, call):
        x = call.args[0]
        if str(x.ty.dtype) != "float32":
            return bb.call_te(topi_op, x)
        return bb.call_te(lambda t: te.compute(t.shape, lambda *i: value(t(*i)), name=name), x,
                          primfunc_name_hint=name)
    return apply


def legalize_map(target) -> dict | None:
    """LegalizeOps overrides for `target` (CPU only; GPUs have a fast exp of their own), for
    float32 tensors; other dtypes keep TOPI's legalization."""
    if "cpu" not in target.keys:
        return None
    return {"relax.sigmoid": _legalize("fast_sigmoid", sigmoid_poly, topi.sigmoid),
            "relax.exp": _legalize("fast_exp", exp_poly, topi.exp)}
