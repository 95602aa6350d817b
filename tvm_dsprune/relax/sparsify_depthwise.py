"""SparsifyDepthwise: pruned depthwise convs -> DR block-sparse sub-GEMM kernels.

Matches `relax.nn.conv2d` with groups == C_in, channel multiplier 1, NCHW/OIHW, float32 and a
constant weight with zeros; replaces it with `call_tir` to the layer's DR kernel
(kernels/dr_depthwise.py) whose format arrays are constants. Epilogues (bias, folded BN,
activations) are left as Relax ops for FuseOps to fuse into the kernel's output block.
Every depthwise conv gets a LayerRecord, sparse or not, and why.

On CPUs the same kernel also runs the depthwise convs that stay dense, with every tap kept,
where the family's cost model says it beats the dense schedule (SparseCost.depthwise_planes_win):
its padded planes and register row tiles serve dense layers as well as pruned ones.
"""
from __future__ import annotations

import dataclasses
import json

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
        self.cpu_shapes: dict[str, dict] = {}      # CPU-form kernel -> its DWConvShape

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
        shape = self._shape(call, wshape[2], wshape[3])
        taps, stride = shape.kh * shape.kw, max(shape.strides)
        if not rec.stays_dense(self.mode):
            fmt = dr_format.from_weight(w, self.geometry.dr_group, self.geometry.k_tile)
            if self.mode != "auto" or self.cost.depthwise_sparse_wins(rec.density, stride, shape.out_pixels, taps):
                return self._sparse(call, w, shape, fmt, rec)
            rec.reason = (f"cost model: dense is faster at density {rec.density:.2f} "
                          f"({shape.kh}x{shape.kw}, stride {stride}, {shape.out_hw[0]}x{shape.out_hw[1]} output)")
        if not self.local_accumulator and self.cost.depthwise_planes_win(stride, shape.out_pixels, taps):
            return self._planes(call, w, shape, rec)
        return call

    @staticmethod
    def _shape(call, kh: int, kw: int) -> dr_depthwise.DWConvShape:
        a = call.attrs
        n, c, h, wd = (int(d) for d in call.args[0].ty.shape)
        return dr_depthwise.DWConvShape(n, c, h, wd, kh, kw, tuple(int(s) for s in a.strides),
                                        tuple(int(p) for p in a.padding), tuple(int(d) for d in a.dilation))

    def _planes(self, call, w, shape, rec):
        """A dense layer in the CPU form with every tap (zeros too): still dense work."""
        fmt = dr_format.from_weight(w, self.geometry.dr_group, self.geometry.k_tile, keep_all=True)
        rec.format = f"every tap of {fmt.kh}x{fmt.kw} (CPU plane kernel)"
        return self._kernel_call(call, shape, fmt, rec, "dsprune_dw_planes")

    def _sparse(self, call, w, shape, fmt, rec):
        rec.decision = "sparse"
        rec.format = f"DR g{fmt.group} kmax{fmt.kmax} (K per sub-GEMM {int(fmt.kept.min())}-{int(fmt.kept.max())})"
        rec.reason = f"{fmt.nnz} of {w.size} weights kept"
        return self._kernel_call(call, shape, fmt, rec, "dsprune_dr_depthwise")

    def _kernel_call(self, call, shape, fmt, rec, name):
        """The layer's kernel (the target's form) added to the module, called on its format arrays."""
        taps = fmt.col_tap.reshape(-1)
        if self.local_accumulator:
            func = dr_depthwise.build_gpu(shape, fmt.col_val.size)
        else:                                   # the CPU form reads each kept column at its offset
            tile = dr_depthwise.cpu_tile(shape.out_hw[1], self.width_multiple)
            rows = dr_depthwise.cpu_rows(shape.out_hw[0], tile // self.width_multiple)
            func = dr_depthwise.build_cpu(shape, fmt.col_val.size, tile, rows, self.width_multiple)
            taps = dr_depthwise.tap_offsets(shape, tile, taps)
        func = func.with_attr("op_pattern", OUT_EWISE_FUSABLE).with_attr("dsprune.layer", rec.name)
        gv = self.builder_.add_func(func, name)
        if not self.local_accumulator:
            self.cpu_shapes[gv.name_hint] = dataclasses.asdict(shape)
        rec.kernel = gv.name_hint
        self.names.add(fmt.col_val.reshape(-1), rec.name, rec.position)     # the kernel's layer, for the profile
        args = [call.args[0], relax.const(fmt.chan_ptr), relax.const(taps), relax.const(fmt.col_val.reshape(-1))]
        return relax.call_tir(gv, args, out_ty=relax.TensorType((shape.n, shape.c, *shape.out_hw), "float32"))


@tvm.ir.transform.module_pass(opt_level=0, name="SparsifyDepthwise")
class SparsifyDepthwise:
    """mode: "auto" (the target cost model decides), "on" (every pruned DW layer), "off".

    geometry / cost: a TileGeometry and SparseCost (schedules/); width_multiple: the vector
    lanes the kernel's output rows are rounded to (the CPU's float32 lanes: 8 with AVX2);
    local_accumulator: the kernel form GPU schedules need (see kernels/dr_depthwise.py). One LayerRecord per depthwise conv is
    appended to the module's records (layer_records.py), named from the module's layer names.
    """

    def __init__(self, geometry, cost, mode: str = "auto", width_multiple: int = 8,
                 local_accumulator: bool = False):
        self.geometry, self.cost, self.mode = geometry, cost, check_sparse_mode(mode)
        self.width_multiple = width_multiple
        self.local_accumulator = local_accumulator

    def transform_module(self, mod, ctx):
        rw = _Rewriter(mod, self.geometry, self.cost, self.mode, self.width_multiple, self.local_accumulator)
        for gv, func in mod.functions_items():
            if isinstance(func, relax.Function):
                rw.builder_.update_func(gv, rw.visit_expr(func))
        mod = with_records(rw.names.attach(rw.builder_.get()), rw.records)
        return with_cpu_shapes(mod, rw.cpu_shapes) if rw.cpu_shapes else mod


SHAPES_ATTR = "dsprune.dw_cpu_shapes"


def with_cpu_shapes(mod, shapes: dict[str, dict]):
    """The module with the conv geometry of its CPU-form depthwise kernels attached (by kernel
    name): what a later pass needs to rebuild such a layer in another kernel."""
    return mod.with_attr(SHAPES_ATTR, json.dumps({**cpu_shapes(mod), **shapes}))


def cpu_shapes(mod) -> dict[str, dr_depthwise.DWConvShape]:
    attrs = mod.attrs
    if attrs is None or SHAPES_ATTR not in attrs:
        return {}
    return {k: dr_depthwise.DWConvShape(**{f: tuple(v) if isinstance(v, list) else v for f, v in d.items()})
            for k, d in json.loads(str(attrs[SHAPES_ATTR])).items()}

