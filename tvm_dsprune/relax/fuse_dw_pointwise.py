"""FuseDepthwisePointwise: a depthwise conv and the group-sparse 1x1 conv reading it -> one kernel.

Runs after the sparsify passes, on CPU targets. Matches, in a dataflow block,

    d = call_tir(<CPU-form DR depthwise kernel>, (x, chan_ptr, col_off, col_val))
    [e = add(d, <per-channel constant>)]                   the folded batch norm / conv bias
    [r = relu(e) | clip(e, 0, 6) | minimum(maximum(e, 0), 6) | maximum(e, 0)]
    p = call_tir(<CPU-form group-sparse 1x1 kernel>, (r, block_ptr, group_col, group_val))

where every intermediate has no other use, and replaces `p` with one call of
kernels/dw_pointwise.py on the same format arrays: the depthwise output never goes to memory.
The 1x1 conv's own epilogue (its bias, a residual add) stays as Relax ops, for FuseOps to fuse
into the new kernel's output block. Where the target's cost model says the two kernels are
faster apart (SparseCost.depthwise_pointwise_fuse) the pair is left alone.

The layer records say it: the depthwise layer's format gains "fused with <1x1 layer>", and both
layers' records name the fused kernel.
"""
from __future__ import annotations

import json
from typing import NamedTuple

import numpy as np
import tvm
from tvm import relax

from ..kernels import dr_depthwise, dw_pointwise
from .layer_records import RECORDS_ATTR, LayerNames, records
from .sparsify_depthwise import OUT_EWISE_FUSABLE, cpu_shapes

CALL_TIR = tvm.ir.Op.get("relax.call_tir")
ADD = tvm.ir.Op.get("relax.add")
RELU = tvm.ir.Op.get("relax.nn.relu")
CLIP = tvm.ir.Op.get("relax.clip")


def _scalar(expr) -> float | None:
    """The value of a one-element constant or a scalar literal (a clip bound), else None."""
    value = getattr(expr, "value", None)
    if hasattr(value, "numpy"):
        arr = value.numpy()
        return float(arr.reshape(-1)[0]) if arr.size == 1 else None
    if isinstance(value, (int, float)):
        return float(value)
    inner = getattr(value, "value", None)           # a PrimValue's FloatImm / IntImm
    return float(inner) if isinstance(inner, (int, float)) else None


class _Block:
    """The bindings of one dataflow block, with what each var is bound to and how often used."""

    def __init__(self, block, uses):
        self.bindings = list(block.bindings)
        self.value = {b.var: b.value for b in self.bindings}
        self.uses = uses

    def only_use(self, var):
        """The value bound to `var` in this block, if `var` has no other use."""
        return self.value.get(var) if self.uses.get(var, 0) == 1 else None


def _use_counts(func) -> dict:
    uses: dict = {}
    for block in func.body.blocks:
        for b in block.bindings:
            for v in relax.analysis.free_vars(b.value):
                uses[v] = uses.get(v, 0) + 1
    for v in relax.analysis.free_vars(func.body.body):
        uses[v] = uses.get(v, 0) + 1
    return uses


class _Match(NamedTuple):
    dw_call: relax.Call         # the depthwise kernel's call
    dw_name: str                # its kernel
    bias: np.ndarray | None     # the per-channel constant added to its output
    act: str                    # "none", "relu" or "relu6"
    dropped: list               # the bindings the fused call makes dead


def _activation(value):
    """(activation, its input) when `value` is one of the forms the kernel applies, else None."""
    if isinstance(value, relax.Call) and value.op.same_as(RELU):
        return "relu", value.args[0]
    if isinstance(value, relax.Call) and value.op.same_as(CLIP):
        lo, hi = _scalar(value.args[1]), _scalar(value.args[2])
        if lo == 0.0 and hi in (6.0, float("inf")):
            return ("relu6" if hi == 6.0 else "relu"), value.args[0]
    if isinstance(value, relax.Call) and value.op.same_as(CALL_TIR):
        name = value.args[0].name_hint
        args = list(value.args[1].fields)
        if len(args) == 2 and name.startswith(("maximum", "minimum")):
            c = _scalar(args[1])
            if name.startswith("maximum") and c == 0.0:
                return "relu", args[0]
            if name.startswith("minimum") and c == 6.0:
                return "min6", args[0]
    return None


def _match(block, shapes, pw_input):
    dropped = []
    act = "none"
    var = pw_input
    value = block.only_use(var)
    found = _activation(value) if value is not None else None
    if found is not None and found[0] == "min6":
        dropped.append(var)
        var = found[1]
        value = block.only_use(var)
        inner = _activation(value) if value is not None else None
        if inner is None or inner[0] != "relu":
            return None
        found = ("relu6", inner[1])
    if found is not None:
        act = found[0]
        dropped.append(var)
        var = found[1]
        value = block.only_use(var)
    bias = None
    if isinstance(value, relax.Call) and value.op.same_as(ADD) and isinstance(value.args[1], tvm.ir.Constant):
        b = value.args[1].value.numpy()
        if b.ndim >= 3 and all(d == 1 for d in b.shape[-2:]) and (b.ndim == 3 or b.shape[0] == 1):
            bias = b.reshape(-1)
            dropped.append(var)
            var = value.args[0]
            value = block.only_use(var)
    if not (isinstance(value, relax.Call) and value.op.same_as(CALL_TIR)):
        return None
    name = value.args[0].name_hint
    if name not in shapes:
        return None
    dropped.append(var)
    return _Match(value, name, bias, act, dropped)


def _group_kernel(mod, call) -> bool:
    func = mod[call.args[0]]
    attrs = getattr(func, "attrs", None)
    return (isinstance(func, tvm.tirx.PrimFunc) and attrs is not None and "dsprune.op" in attrs
            and str(attrs["dsprune.op"]) == "group_dense" and len(call.args[1].fields) == 4)


@tvm.ir.transform.module_pass(opt_level=0, name="FuseDepthwisePointwise")
class FuseDepthwisePointwise:
    """cost: the target's SparseCost; lanes: the CPU's float32 vector lanes (the same the
    depthwise kernels' tiles were made for)."""

    def __init__(self, cost, lanes: int):
        self.cost, self.lanes = cost, lanes

    def transform_module(self, mod, ctx):
        shapes = cpu_shapes(mod)
        if not shapes:
            return mod
        bb = relax.BlockBuilder(mod)
        names = LayerNames(mod)
        fused: list[tuple[str, str, str]] = []               # (DW layer, 1x1 layer, fused kernel)
        old: set[str] = set()                               # the kernels the fused calls replace
        for gv, func in list(mod.functions_items()):
            if not isinstance(func, relax.Function) or not isinstance(func.body, relax.SeqExpr):
                continue
            uses = _use_counts(func)
            blocks, changed = [], False
            for block in func.body.blocks:
                if not isinstance(block, relax.DataflowBlock):
                    blocks.append(block)
                    continue
                info = _Block(block, uses)
                replace, drop = {}, set()
                for b in info.bindings:
                    v = b.value
                    if not (isinstance(v, relax.Call) and v.op.same_as(CALL_TIR) and _group_kernel(mod, v)):
                        continue
                    m = _match(info, shapes, v.args[1].fields[0])
                    if m is None:
                        continue
                    dw_layer = _layer(names, m.dw_call.args[1].fields[3])
                    pw_layer = _layer(names, v.args[1].fields[3])
                    call = self._fused_call(bb, shapes[m.dw_name], m, v, pw_layer)
                    if call is None:
                        continue
                    replace[b.var] = call
                    drop.update(m.dropped)
                    fused.append((dw_layer, pw_layer, call.args[0].name_hint))
                    old.update((m.dw_name, v.args[0].name_hint))
                if not replace:
                    blocks.append(block)
                    continue
                changed = True
                new = [relax.VarBinding(b.var, replace[b.var]) if b.var in replace else b
                       for b in info.bindings if b.var not in drop]
                blocks.append(relax.DataflowBlock(new, block.span))
            if changed:
                body = bb.normalize(relax.SeqExpr(blocks, func.body.body))
                bb.update_func(gv, relax.Function(func.params, body, func.ret_ty, func.is_pure, func.attrs, func.span))
        if not fused:
            return mod
        out = bb.get()
        called = _called(out)
        for gv in list(out.get_global_vars()):
            if gv.name_hint in old and gv.name_hint not in called:
                del out[gv]                           # no layer calls the kernel any more
        return _note_records(out, fused)

    def _fused_call(self, bb, shape: dr_depthwise.DWConvShape, m: _Match, pw_call, layer: str):
        x, chan_ptr, col_off, col_val = m.dw_call.args[1].fields
        _, block_ptr, group_col, group_val = pw_call.args[1].fields
        if not all(isinstance(a, tvm.ir.Constant) for a in (chan_ptr, col_off, col_val, block_ptr, group_col, group_val)):
            return None
        oh, ow = shape.out_hw
        if not self.cost.depthwise_pointwise_fuse(ow):
            return None
        out_shape = [int(d) for d in pw_call.ty.shape]
        if len(out_shape) != 4 or out_shape[2:] != [oh, ow] or str(pw_call.ty.dtype) != "float32":
            return None
        ng, gr, gc = (int(d) for d in group_val.ty.shape)
        blocks = int(block_ptr.ty.shape[0])
        tile = dr_depthwise.cpu_tile(ow, self.lanes)
        band = dw_pointwise.band_rows(oh, dr_depthwise.plane_layout(shape, tile).out_width, self.lanes)
        func = dw_pointwise.build_cpu(shape, int(col_val.ty.shape[0]), m.act, out_shape[1], gr, gc, ng, blocks,
                                      band, self.lanes)
        func = func.with_attr("op_pattern", OUT_EWISE_FUSABLE)
        if layer:
            func = func.with_attr("dsprune.layer", layer)
        gv = bb.add_func(func, "dsprune_dw_pointwise")
        bias = m.bias if m.bias is not None else np.zeros(shape.c, "float32")
        args = [x, chan_ptr, col_off, col_val, relax.const(bias.astype("float32")), block_ptr, group_col, group_val]
        return bb.normalize(relax.call_tir(gv, args, out_ty=pw_call.ty))


def _called(mod) -> set[str]:
    """Names of the functions that call_tir calls anywhere in the module's Relax functions."""
    names = set()

    def visit(expr):
        if isinstance(expr, relax.Call) and expr.op.same_as(CALL_TIR):
            names.add(expr.args[0].name_hint)

    for _, func in mod.functions_items():
        if isinstance(func, relax.Function):
            relax.analysis.post_order_visit(func, visit)
    return names


def _layer(names: LayerNames, const) -> str:
    """The layer a format array belongs to (the sparsify passes name them), or ""."""
    found = names.lookup(const.value.numpy()) if isinstance(const, tvm.ir.Constant) else None
    return found[0] if found else ""


def _note_records(mod, fused: list[tuple[str, str, str]]):
    """The depthwise layers' records say which 1x1 layer they were fused with; both layers'
    records name the fused kernel."""
    recs = records(mod)
    by_name = {r.name: r for r in recs}
    for dw_layer, pw_layer, kernel in fused:
        dw, pw = by_name.get(dw_layer), by_name.get(pw_layer)
        if dw is not None:
            dw.format += f"; fused with {pw_layer or 'the next 1x1 conv'}"
            dw.kernel = kernel
        if pw is not None:
            pw.kernel = kernel
    return mod.with_attr(RECORDS_ATTR, json.dumps([r.as_dict() for r in recs]))
