"""PointwiseAsGemm: dense 1x1 convs -> the flat-pixel GEMM kernel (kernels/pointwise.py).

Matches what SparsifyDense left as a `relax.nn.conv2d` with a 1x1 kernel, groups 1, stride 1,
no padding, NCHW/OIHW, float32 and a constant weight (a layer kept dense, or the kept filters
and input channels of a compact one), and calls the pointwise kernel with the weight as a
[K, F] matrix; a compact layer's channel gather becomes the kernel's channel list. The
kernel's output block takes the fused epilogue (bias, folded BN, activation, residual add), as
the sparse kernels' do. For CPU targets: a GPU schedules the conv with its own rules.
"""
from __future__ import annotations

import numpy as np
import tvm
from tvm import relax

from ..kernels import pointwise
from .layer_records import LayerNames
from .sparsify_dense import _common_reason, _conv_reason, _static
from .sparsify_depthwise import CONV2D, OUT_EWISE_FUSABLE, is_depthwise

TAKE = tvm.ir.Op.get("relax.take")


@relax.expr_functor.mutator
class _Rewriter(relax.PyExprMutator):
    def __init__(self, mod):
        super().__init__(mod)
        self.names = LayerNames(mod)

    def visit_call_(self, call):
        call = super().visit_call_(call)
        if not (isinstance(call, relax.Call) and call.op.same_as(CONV2D)) or is_depthwise(call):
            return call
        data, weight = call.args
        if _common_reason(data, weight) or _conv_reason(call):
            return call
        a = call.attrs
        if a.out_layout not in ("NCHW", "") or (a.out_dtype and str(a.out_dtype) not in ("float32", "void")):
            return call
        w = weight.value.numpy()
        matrix = np.ascontiguousarray(w.reshape(w.shape[0], w.shape[1]).T)      # [K, F]
        found = self.names.lookup(w)
        if found is not None:
            self.names.add(matrix, *found)
        n, k, h, wd = _static(data.ty.shape)
        f = matrix.shape[1]
        source, channels = self._gathered(data)
        if channels is None:
            func = pointwise.build(n, k, f, h, wd)
            args = [data, relax.const(matrix)]
        else:
            func = pointwise.build(n, k, f, h, wd, channels_in=_static(source.ty.shape)[1])
            args = [source, relax.const(matrix), relax.const(channels)]
        gv = self.builder_.add_func(func.with_attr("op_pattern", OUT_EWISE_FUSABLE), "dsprune_pointwise")
        return relax.call_tir(gv, args, out_ty=relax.TensorType((n, f, h, wd), "float32"))

    def _gathered(self, data):
        """(x, channels) when `data` is `take(x, constant channels, axis=1)` (a compact layer's
        kept input channels): the kernel reads them from x in place; else (data, None)."""
        value = self.lookup_binding(data) if isinstance(data, relax.Var) else None
        if not (isinstance(value, relax.Call) and value.op.same_as(TAKE)
                and isinstance(value.args[1], tvm.ir.Constant) and int(value.attrs.axis) == 1):
            return data, None
        source = value.args[0]
        if _static(source.ty.shape) is None or len(_static(source.ty.shape)) != 4:
            return data, None
        return source, value.args[1].value.numpy().astype("int32")


@tvm.ir.transform.module_pass(opt_level=0, name="PointwiseAsGemm")
class PointwiseAsGemm:
    """Every dense 1x1 conv of the module's Relax functions becomes the pointwise kernel; a
    channel gather in front of one (a compact layer's) folds into the kernel, and the gather,
    unused, goes."""

    def transform_module(self, mod, ctx):
        rw = _Rewriter(mod)
        for gv, func in mod.functions_items():
            if isinstance(func, relax.Function):
                rw.builder_.update_func(gv, rw.visit_expr(func))
        return relax.transform.DeadCodeElimination()(rw.names.attach(rw.builder_.get()))
