"""FoldConstantChannels: input channels that filter pruning made constant, folded into the bias.

Filter pruning zeroes whole output rows of a conv; the bias (and folded BN) of those rows stays,
so each such output channel holds one value at every pixel: its bias, passed through the
per-channel ops that follow (bias add, ReLU / ReLU6 clamps, the residual add of two constant
channels, the global average pool, a flatten). A 1x1 conv or dense layer that reads such a
channel multiplies a constant: its column of weights adds `W[:, c] * value` to every output,
which this pass adds to the layer's bias, and zeroes the column. The result is exact (up to
float rounding of the folded bias), and the sparse passes after it see the zero columns: the
layer computes only the channels that vary (SparsifyDense's compact form reads them through a
channel gather). In MobileNet-V2 pruned with DEPrune-BH, the expansions after each stage's first
projection and the last 1x1 conv lose half their input channels this way.

Only channels proven constant are folded: anything the analysis does not know (a padded or
strided consumer, an op it does not model) leaves the layer as it is.
"""
from __future__ import annotations

import numpy as np
import tvm
from tvm import relax

from .layer_records import LayerNames
from .sparsify_dense import MATMUL, _static
from .sparsify_depthwise import CONV2D

ADD = tvm.ir.Op.get("relax.add")
MULTIPLY = tvm.ir.Op.get("relax.multiply")
MEAN = tvm.ir.Op.get("relax.mean")
RESHAPE = tvm.ir.Op.get("relax.reshape")
MAXIMUM = tvm.ir.Op.get("relax.maximum")
MINIMUM = tvm.ir.Op.get("relax.minimum")
RELU = tvm.ir.Op.get("relax.nn.relu")
CALL_TIR = tvm.ir.Op.get("relax.call_tir")


class Channels:
    """Which channels (axis 1) of a tensor hold one value at every position, and the values."""

    def __init__(self, mask: np.ndarray, values: np.ndarray):
        self.mask, self.values = mask, np.where(mask, values, 0.0)

    def map(self, fn) -> "Channels":
        return Channels(self.mask, fn(self.values))


def _shape(expr) -> list[int] | None:
    """The static shape of a Relax expression; None for a dynamic shape or a non-tensor."""
    return _static(getattr(getattr(expr, "ty", None), "shape", None))


def _per_channel(const, out_shape: list[int]) -> np.ndarray | None:
    """A constant that broadcasts along axis 1 of a tensor of `out_shape` (a bias or scale of
    shape [1, C, 1, 1], [C, 1, 1], or [C] against [N, C]; or a scalar), as [C]; else None."""
    if not isinstance(const, tvm.ir.Constant):
        return None
    v = const.value.numpy().astype(np.float64)
    channels = out_shape[1]
    if v.size == 1:
        return np.full(channels, float(v.reshape(())))
    if v.ndim > len(out_shape):
        return None
    shape = [1] * (len(out_shape) - v.ndim) + list(v.shape)        # numpy's right-aligned broadcast
    if shape[1] == channels and all(d == 1 for i, d in enumerate(shape) if i != 1):
        return v.reshape(channels)
    return None


def _scalar(const) -> float | None:
    if isinstance(const, tvm.ir.Constant) and const.value.numpy().size == 1:
        return float(const.value.numpy().reshape(()))
    return None


class _Analysis:
    """Forward pass over `main`'s bindings: the constant channels of every tensor it can prove."""

    def __init__(self, mod):
        self.mod = mod
        self.info: dict = {}               # relax.Var -> Channels

    def run(self, func) -> dict:
        for block in func.body.blocks:
            for b in block.bindings:
                if isinstance(b, relax.VarBinding) and isinstance(b.value, relax.Call):
                    found = self._call(b.value, _shape(b.var))
                    if found is not None and found.mask.any():
                        self.info[b.var] = found
        return self.info

    def _call(self, call, out_shape) -> Channels | None:
        if out_shape is None or len(out_shape) < 2:
            return None
        c = out_shape[1]
        args = list(call.args)
        if call.op.same_as(CONV2D):
            w = args[1]
            if not isinstance(w, tvm.ir.Constant):
                return None
            wv = w.value.numpy()
            zero = ~np.any(wv.reshape(wv.shape[0], -1) != 0, axis=1)
            return Channels(zero, np.zeros(c)) if zero.shape[0] == c else None
        if call.op.same_as(ADD) or call.op.same_as(MULTIPLY):
            fn = np.add if call.op.same_as(ADD) else np.multiply
            a, b = (self.info.get(x) if isinstance(x, relax.Var) else None for x in args)
            if a is not None and b is not None:
                if a.mask.shape != b.mask.shape or a.mask.shape[0] != c:
                    return None
                return Channels(a.mask & b.mask, fn(a.values, b.values))
            for known, other in ((a, args[1]), (b, args[0])):
                vec = _per_channel(other, out_shape)
                if known is not None and vec is not None:
                    return known.map(lambda v, vec=vec: fn(v, vec))
            return None
        if call.op.same_as(RELU):
            return self._arg(args[0], c, lambda v: np.maximum(v, 0.0))
        if call.op.same_as(MAXIMUM) or call.op.same_as(MINIMUM):
            fn = np.maximum if call.op.same_as(MAXIMUM) else np.minimum
            s = _scalar(args[1])
            return None if s is None else self._arg(args[0], c, lambda v: fn(v, s))
        if call.op.same_as(CALL_TIR):
            # the ONNX importer's Clip: call_tir(maximum | minimum, (x, scalar constant))
            name = args[0].name_hint if isinstance(args[0], relax.GlobalVar) else ""
            ins = list(args[1].fields) if isinstance(args[1], relax.Tuple) else []
            kind = "maximum" if name.startswith("maximum") else "minimum" if name.startswith("minimum") else ""
            if not kind or len(ins) != 2 or _scalar(ins[1]) is None or _shape(ins[0]) != out_shape:
                return None
            s, fn = _scalar(ins[1]), (np.maximum if kind == "maximum" else np.minimum)
            return self._arg(ins[0], c, lambda v: fn(v, s))
        if call.op.same_as(MEAN):
            # a mean over the spatial axes keeps each channel's value
            axes = [int(a) for a in (call.attrs.axis or [])]
            src = _shape(args[0])
            if src is None or not axes or any(a % len(src) < 2 for a in axes):
                return None
            return self._arg(args[0], c, lambda v: v)
        if call.op.same_as(RESHAPE):
            # a flatten of [N, C, 1, 1] to [N, C] keeps the channel axis
            src = _shape(args[0])
            if src is None or src[:2] != out_shape[:2] or any(d != 1 for d in src[2:] + out_shape[2:]):
                return None
            return self._arg(args[0], c, lambda v: v)
        return None

    def _arg(self, arg, channels: int, fn) -> Channels | None:
        known = self.info.get(arg) if isinstance(arg, relax.Var) else None
        if known is None or known.mask.shape[0] != channels:
            return None
        return known.map(fn)


def _foldable(call) -> bool:
    """A 1x1 conv (groups 1, no padding) or a matmul, with a constant weight: a constant input
    channel adds the same value at every output position."""
    if call.op.same_as(CONV2D):
        a = call.attrs
        w = _shape(call.args[1])
        return (isinstance(call.args[1], tvm.ir.Constant) and a.data_layout == "NCHW" and a.kernel_layout == "OIHW"
                and int(a.groups) == 1 and w is not None and w[2:] == [1, 1]
                and all(int(p) == 0 for p in a.padding))
    if call.op.same_as(MATMUL):
        w = _shape(call.args[1])
        x = _shape(call.args[0])
        return isinstance(call.args[1], tvm.ir.Constant) and w is not None and len(w) == 2 \
            and x is not None and len(x) == 2
    return False


@relax.expr_functor.mutator
class _Rewriter(relax.PyExprMutator):
    def __init__(self, mod, info):
        super().__init__(mod)
        self.info = info
        self.names = LayerNames(mod)
        self.folded: dict = {}              # var of a rewritten layer -> the bias it still owes
        self.count = 0

    def visit_var_binding_(self, binding):
        value = binding.value
        if isinstance(value, relax.Call) and _foldable(value) and isinstance(value.args[0], relax.Var) \
                and value.args[0] in self.info:
            new, owed = self._fold(value)
            if new is not None:
                self.count += 1
                if self._owes_to_bias_add(binding.var):
                    self.folded[binding.var] = owed
                else:
                    new = relax.op.add(new, relax.const(owed))
                self.set_var_remap(binding.var, self._emit(binding.var, new))
                return
        if isinstance(value, relax.Call) and value.op.same_as(ADD) and value.args[0] in self.folded:
            owed = self.folded.pop(value.args[0])
            bias = value.args[1].value.numpy()
            new_bias = (bias.astype(np.float64) + owed.reshape(bias.shape) if bias.size == owed.size
                        else bias.astype(np.float64) + owed).astype(bias.dtype)
            new = relax.op.add(self.visit_expr(value.args[0]), relax.const(new_bias))
            self.set_var_remap(binding.var, self._emit(binding.var, new))
            return
        super().visit_var_binding_(binding)

    def _emit(self, var, value):
        """Bind `value` in place of `var`'s binding: a dataflow block's output stays an output."""
        if isinstance(var, relax.DataflowVar) or not self.builder_.current_block_is_dataflow():
            return self.builder_.emit(value, var.name)
        return self.builder_.emit_output(value, var.name)

    def _owes_to_bias_add(self, var) -> bool:
        """The layer's only use is `add(layer, constant bias of its shape or [C] per channel)`."""
        users = self.uses.get(var, [])
        if len(users) != 1 or users[0] is None:
            return False
        call = users[0]
        if not (isinstance(call, relax.Call) and call.op.same_as(ADD) and call.args[0].same_as(var) and isinstance(call.args[1], tvm.ir.Constant)):
            return False
        out = _shape(var)
        bias = _shape(call.args[1])
        return bias is not None and int(np.prod(bias)) == out[1] and _per_channel(call.args[1], out) is not None

    def _fold(self, call):
        x, w = call.args
        known = self.info[x]
        wv = w.value.numpy()
        if call.op.same_as(CONV2D):
            matrix = wv.reshape(wv.shape[0], wv.shape[1])                 # [F, K]
        else:
            matrix = wv.T                                                 # matmul: W is [K, F]
        cols = known.mask & np.any(matrix != 0, axis=0)
        if not cols.any():
            return None, None
        owed = matrix[:, cols].astype(np.float64) @ known.values[cols]   # [F]
        new_w = wv.copy()
        if call.op.same_as(CONV2D):
            new_w[:, cols] = 0
            owed_shape = (1, wv.shape[0], 1, 1)
        else:
            new_w[cols, :] = 0
            owed_shape = (wv.shape[1],)
        found = self.names.lookup(wv)
        if found is not None:
            self.names.add(new_w, *found)
        new_call = relax.Call(call.op, [self.visit_expr(x), relax.const(new_w)], call.attrs)
        return new_call, owed.reshape(owed_shape).astype(wv.dtype)


def _uses(func) -> dict:
    """var -> the binding values that read it (a Call, a Tuple, ...); None for the function's
    result. Every read counts, inside tuples too: a layer whose output is read anywhere but by
    its bias add keeps a separate add of what it owes."""
    out: dict = {}
    for block in func.body.blocks:
        for b in block.bindings:
            for v in relax.analysis.free_vars(b.value):
                out.setdefault(v, []).append(b.value)
    for v in relax.analysis.free_vars(func.body.body):
        out.setdefault(v, []).append(None)
    return out


FOLDED_ATTR = "dsprune.folded_channels"


@tvm.ir.transform.module_pass(opt_level=0, name="FoldConstantChannels")
class FoldConstantChannels:
    """Every 1x1 conv / dense layer of `main` that reads channels filter pruning made constant:
    those weight columns zeroed, their contribution added to the bias. The module records how
    many layers changed (`dsprune.folded_channels`)."""

    def transform_module(self, mod, ctx):
        count = 0
        for gv, func in list(mod.functions_items()):
            if not isinstance(func, relax.Function) or not isinstance(func.body, relax.SeqExpr):
                continue
            info = _Analysis(mod).run(func)
            if not info:
                continue
            rw = _Rewriter(mod, info)
            rw.uses = _uses(func)
            new = rw.visit_expr(func)
            if rw.count:
                rw.builder_.update_func(gv, new)
                mod = rw.names.attach(rw.builder_.get())
                count += rw.count
        return mod.with_attr(FOLDED_ATTR, count) if count else mod
