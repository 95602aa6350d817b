"""SparsifyDepthwise: pruned depthwise convs -> DR block-sparse sub-GEMM kernels.

Matches `relax.nn.conv2d` with groups == C_in, channel multiplier 1, NCHW/OIHW, float32 and a
constant weight with zeros; replaces it with `call_tir` to the layer's DR kernel
(kernels/dr_depthwise.py) whose format arrays are constants. Epilogues (bias, folded BN,
activations) are left as Relax ops for FuseOps to fuse into the kernel's output block.
Every depthwise conv gets a LayerRecord, sparse or not, and why.
"""
from __future__ import annotations

import numpy as np
import tvm
from tvm import relax

from ..kernels import dr_depthwise
from ..sparse import dr_format
from .layer_records import LayerNames, LayerRecord, check_sparse_mode, with_records

CONV2D = tvm.ir.Op.get("relax.nn.conv2d")
OUT_EWISE_FUSABLE = 4        # TVM's kOutEWiseFusable: epilogues fuse into the kernel


def depthwise_reason(call) -> str:
    """Empty if `call` is a depthwise conv this pass can rewrite, else why not."""
    a = call.attrs
    data, weight = call.args
    if a.data_layout != "NCHW" or a.kernel_layout != "OIHW" or a.out_layout not in ("NCHW", ""):
        return f"layout {a.data_layout}/{a.kernel_layout}: only NCHW/OIHW"
    if not isinstance(weight, tvm.ir.Constant):
        return "weight is not a constant"
    dshape = data.ty.shape
    if dshape is None or not all(isinstance(d, tvm.tirx.IntImm) for d in dshape):
        return "input shape is not static"
    if str(data.ty.dtype) != "float32" or str(weight.ty.dtype) != "float32":
        return f"dtype {data.ty.dtype}: only float32"
    if a.out_dtype and str(a.out_dtype) not in ("", "float32", "void"):
        return f"out_dtype {a.out_dtype}: only float32"
    return ""


def is_depthwise(call) -> bool:
    if not (isinstance(call, relax.Call) and call.op.same_as(CONV2D)):
        return False
    data, weight = call.args
    try:
        cin = int(data.ty.shape[1])
        wshape = [int(d) for d in weight.ty.shape]
    except (TypeError, ValueError, AttributeError):
        return False
    return int(call.attrs.groups) == cin > 1 and wshape[1] == 1


@relax.expr_functor.mutator
class _Rewriter(relax.PyExprMutator):
    def __init__(self, mod, geometry, cost, mode, width_multiple, local_accumulator):
        super().__init__(mod)
        self.geometry, self.cost, self.mode = geometry, cost, mode
        self.local_accumulator = local_accumulator
        self.width_multiple, self.names, self.records = width_multiple, LayerNames(mod), []

    def visit_call_(self, call):
        call = super().visit_call_(call)
        if not is_depthwise(call):
            return call
        weight = call.args[1]
        wshape = [int(d) for d in weight.ty.shape]
        w = weight.value.numpy() if isinstance(weight, tvm.ir.Constant) else None
        name, position = self.names.name(w, "dw")
        rec = LayerRecord(name, "dw", wshape, 1.0, "dense", position=position)
        self.records.append(rec)
        if wshape[0] != int(call.args[0].ty.shape[1]):
            rec.reason = f"channel multiplier {wshape[0] // int(call.args[0].ty.shape[1])}: only 1"
            return call
        reason = depthwise_reason(call)
        if reason:
            rec.reason = reason
            return call
        rec.density = float(np.count_nonzero(w) / w.size)
        if rec.stays_dense(self.mode):
            return call
        fmt = dr_format.from_weight(w, self.geometry.dr_group, self.geometry.k_tile)
        stride = max(int(st) for st in call.attrs.strides)
        if self.mode == "auto" and not self.cost.depthwise_sparse_wins(rec.density, fmt.kh * fmt.kw, stride):
            rec.reason = (f"cost model: dense is faster at density {rec.density:.2f} "
                          f"({fmt.kh}x{fmt.kw}, stride {stride})")
            return call
        return self._sparse(call, w, fmt, rec)

    def _sparse(self, call, w, fmt, rec):
        data = call.args[0]
        a = call.attrs
        n, c, h, wd = (int(d) for d in data.ty.shape)
        shape = dr_depthwise.DWConvShape(
            n, c, h, wd, fmt.kh, fmt.kw, tuple(int(s) for s in a.strides),
            tuple(int(p) for p in a.padding), tuple(int(d) for d in a.dilation))
        func = dr_depthwise.build(shape, fmt.col_val.size, self.width_multiple,
                                  local_accumulator=self.local_accumulator)
        func = func.with_attr("op_pattern", OUT_EWISE_FUSABLE).with_attr("dsprune.layer", rec.name)
        gv = self.builder_.add_func(func, "dsprune_dr_depthwise")
        oh, ow = shape.out_hw
        rec.decision = "sparse"
        rec.format = f"DR g{fmt.group} kmax{fmt.kmax} (K per sub-GEMM {int(fmt.kept.min())}-{int(fmt.kept.max())})"
        rec.kernel = gv.name_hint
        rec.reason = f"{fmt.nnz} of {w.size} weights kept"
        args = [data, relax.const(fmt.chan_ptr), relax.const(fmt.col_tap.reshape(-1)),
                relax.const(fmt.col_val.reshape(-1))]
        return relax.call_tir(gv, args, out_ty=relax.TensorType((n, c, oh, ow), "float32"))


@tvm.ir.transform.module_pass(opt_level=0, name="SparsifyDepthwise")
class SparsifyDepthwise:
    """mode: "auto" (the target cost model decides), "on" (every pruned DW layer), "off".

    geometry / cost: a TileGeometry and SparseCost (schedules/); width_multiple pads the
    kernel's output rows for the target's vectors; local_accumulator: the kernel form GPU
    schedules need (see kernels/dr_depthwise.py). One LayerRecord per depthwise conv is
    appended to the module's records (layer_records.py), named from the module's layer names.
    """

    def __init__(self, geometry, cost, mode: str = "auto", width_multiple: int = 1,
                 local_accumulator: bool = False):
        self.geometry, self.cost, self.mode = geometry, cost, check_sparse_mode(mode)
        self.width_multiple = width_multiple
        self.local_accumulator = local_accumulator

    def transform_module(self, mod, ctx):
        rw = _Rewriter(mod, self.geometry, self.cost, self.mode, self.width_multiple, self.local_accumulator)
        for gv, func in mod.functions_items():
            if isinstance(func, relax.Function):
                rw.builder_.update_func(gv, rw.visit_expr(func))
        return with_records(rw.builder_.get(), rw.records)

