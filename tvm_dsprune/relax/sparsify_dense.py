"""SparsifyDense: pruned 1x1 convs and dense layers -> group-sparse kernels.

Matches `relax.nn.conv2d` with a 1x1 kernel, groups 1, stride 1, no padding (NCHW/OIHW), and
`relax.matmul(x, W)` with a constant 2-D W (ONNX Gemm/MatMul after constant folding), float32.
The pruned weight is covered by gr x gc groups of the cheapest shape the target's kernels
support (unaligned 1xg, gr x gc, or g = 1 for n:m and unstructured masks); row blocks that
filter pruning emptied store nothing and are not computed. The layer goes sparse only where
the target's cost model says sparse beats dense (mode "auto"), or always ("on").

Filter pruning (the DEPrune paper, Sec. 4.2) leaves whole output rows empty and the others dense
(and, after FoldConstantChannels, whole input columns): there the cheapest form is often
neither, but the target's dense kernel on the kept rows and the input channels they read
(gathered by a `take`), whose result kernels/row_scatter.py scatters back to every output
channel ("compact"; pruned channels read 0; the bias / activation epilogue fuses into the
scatter). Mode "auto" picks whichever of dense, group-sparse and compact the cost model rates
cheapest; "on" always uses the group kernel.
Every conv / dense layer that is not depthwise gets a LayerRecord.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import tvm
from tvm import relax

from ..kernels import group_dense, row_scatter
from ..sparse import group_format
from .layer_records import LayerNames, LayerRecord, check_sparse_mode, with_records
from .sparsify_depthwise import CONV2D, OUT_EWISE_FUSABLE, is_depthwise

MATMUL = tvm.ir.Op.get("relax.matmul")


class Compact(NamedTuple):
    """The compact form of a layer: the target's dense kernel on the kept filters (rows) and
    the input channels any of them reads (columns)."""
    rows: np.ndarray
    cols: np.ndarray


def _static(shape) -> list[int] | None:
    try:
        return [int(d) for d in shape]
    except (TypeError, ValueError):
        return None


def _conv_reason(call) -> str:
    a = call.attrs
    data, weight = call.args
    if a.data_layout != "NCHW" or a.kernel_layout != "OIHW":
        return f"layout {a.data_layout}/{a.kernel_layout}: only NCHW/OIHW"
    if int(a.groups) != 1:
        return f"grouped conv (groups {int(a.groups)}): not rewritten"
    wshape = _static(weight.ty.shape)
    if wshape[2:] != [1, 1]:
        return f"{wshape[2]}x{wshape[3]} conv: only 1x1 convs are rewritten"
    if any(int(s) != 1 for s in a.strides) or any(int(p) != 0 for p in a.padding) \
            or any(int(d) != 1 for d in a.dilation):
        return "strided / padded 1x1 conv: not rewritten"
    return ""


def _common_reason(data, weight) -> str:
    if not isinstance(weight, tvm.ir.Constant):
        return "weight is not a constant"
    if _static(data.ty.shape) is None:
        return "input shape is not static"
    if str(data.ty.dtype) != "float32" or str(weight.ty.dtype) != "float32":
        return f"dtype {data.ty.dtype}: only float32"
    return ""


@relax.expr_functor.mutator
class _Rewriter(relax.PyExprMutator):
    def __init__(self, mod, cost, mode, local_accumulator, vector_lanes):
        super().__init__(mod)
        self.cost, self.mode, self.local_accumulator = cost, mode, local_accumulator
        self.vector_lanes = vector_lanes
        self.names, self.records = LayerNames(mod), []

    def visit_call_(self, call):
        call = super().visit_call_(call)
        if not isinstance(call, relax.Call):
            return call
        if call.op.same_as(CONV2D) and not is_depthwise(call):
            return self._conv(call)
        if call.op.same_as(MATMUL) and isinstance(call.args[1], tvm.ir.Constant) \
                and len(call.args[1].ty.shape) == 2:
            return self._matmul(call)
        return call

    def _record(self, w, op, wshape) -> LayerRecord:
        name, position = self.names.name(w, op)
        rec = LayerRecord(name, op, wshape, 1.0, "dense", position=position)
        self.records.append(rec)
        if w is not None:
            rec.density = float(np.count_nonzero(w) / w.size)
        return rec

    def _conv(self, call):
        data, weight = call.args
        wshape = _static(weight.ty.shape) or []
        w = weight.value.numpy() if isinstance(weight, tvm.ir.Constant) else None
        op = "pw" if wshape[2:] == [1, 1] and int(call.attrs.groups) == 1 else "conv"
        rec = self._record(w, op, wshape)
        reason = _common_reason(data, weight) or _conv_reason(call)
        if reason:
            rec.reason = reason
            return call
        matrix = w.reshape(wshape[0], wshape[1])
        fmt = self._format(matrix, rec)
        if isinstance(fmt, Compact):              # conv2d on the kept filters and input channels only
            kept_w = np.ascontiguousarray(w[fmt.rows][:, fmt.cols])
            self.names.add(kept_w, rec.name, rec.position)
            narrow = relax.Call(call.op, [self._gather(data, fmt, matrix.shape[1]), relax.const(kept_w)], call.attrs)
            return self._compact(narrow, fmt, matrix.shape, rec, "conv2d")
        if fmt is None:
            return call
        n, k, h, wd = _static(data.ty.shape)
        if self.local_accumulator:
            func = group_dense.build_gpu(n, k, wshape[0], (h, wd), fmt.gr, fmt.gc, fmt.group_val.shape[0],
                                         fmt.num_blocks, self.vector_lanes)
        else:
            func = group_dense.build_cpu(n, k, wshape[0], (h, wd), fmt.gr, fmt.gc, fmt.group_val.shape[0],
                                         fmt.num_blocks, group_dense.pixel_tile(h * wd, self.vector_lanes, fmt.gr),
                                         self.vector_lanes)
        return self._emit(func, data, fmt, rec, (n, wshape[0], h, wd))

    def _matmul(self, call):
        data, weight = call.args
        wt = weight.value.numpy()                      # [K, F]
        rec = self._record(wt.T, "fc", list(wt.shape))
        reason = _common_reason(data, weight)
        dshape = _static(data.ty.shape)
        if not reason and (dshape is None or len(dshape) != 2):
            reason = "input is not 2-D"
        if reason:
            rec.reason = reason
            return call
        fmt = self._format(np.ascontiguousarray(wt.T), rec)
        if isinstance(fmt, Compact):              # matmul on the kept outputs and inputs of W only
            kept_w = np.ascontiguousarray(wt[fmt.cols][:, fmt.rows])
            self.names.add(kept_w, rec.name, rec.position)
            narrow = relax.Call(call.op, [self._gather(data, fmt, wt.shape[0]), relax.const(kept_w)], call.attrs)
            return self._compact(narrow, fmt, (wt.shape[1], wt.shape[0]), rec, "matmul")
        if fmt is None:
            return call
        if self.local_accumulator:
            func = group_dense.build_gpu(dshape[0], dshape[1], wt.shape[1], (), fmt.gr, fmt.gc,
                                         fmt.group_val.shape[0], fmt.num_blocks)
        else:
            func = group_dense.build_cpu(dshape[0], dshape[1], wt.shape[1], (), fmt.gr, fmt.gc,
                                         fmt.group_val.shape[0], fmt.num_blocks, 1, self.vector_lanes)
        return self._emit(func, data, fmt, rec, (dshape[0], wt.shape[1]))

    def _format(self, matrix, rec):
        """The group format, the kept row indices (compact rows), or None (stays dense)."""
        if rec.stays_dense(self.mode):
            return None
        # the GPU kernels compact the rows filter pruning emptied and gather them back; the CPU
        # kernel writes every row in place (an empty row has no groups)
        fmt = group_format.choose_shape(matrix, self.cost.group_shapes, self.cost.group_fixed,
                                        compact=self.local_accumulator)
        if self.mode == "on":
            return fmt
        rows, cols = matrix.shape
        kept = Compact(np.flatnonzero(np.any(matrix != 0, axis=1)), np.flatnonzero(np.any(matrix != 0, axis=0)))
        costs = {"dense": float(rows * cols), "group": self.cost.group_sparse_cost(fmt.stored, fmt.gr, fmt.gc)}
        if len(kept.rows) and (len(kept.rows) < rows or len(kept.cols) < cols):
            costs["compact"] = self.cost.compact_cost(len(kept.rows), len(kept.cols), rows, cols)
        best = min(costs, key=costs.get)
        if best == "compact":
            return kept
        if best == "dense":
            rec.reason = (f"cost model: dense is faster (density {rec.density:.2f}, "
                          f"best cover {fmt.gr}x{fmt.gc} computes {fmt.density:.2f})")
            return None
        return fmt

    def _gather(self, data, fmt, cols):
        """The input channels (axis 1) the kept columns read; all of them: the input itself. The
        indices are constants in range, so mode "clip" (TOPI's "fast" warns at every build)."""
        if len(fmt.cols) == cols:
            return data
        channels = relax.const(fmt.cols.astype("int32"))
        return self.builder_.emit(relax.op.take(data, channels, axis=1, mode="clip"))

    def _compact(self, narrow, fmt, shape, rec, op_name):
        """The narrow layer's result, its rows scattered back where filters were dropped."""
        rows, cols = shape
        rec.decision = "compact"
        rec.format = (f"{len(fmt.rows)}/{rows} filters, {len(fmt.cols)}/{cols} input channels kept: "
                      f"dense {op_name} on them")
        rec.kernel = op_name
        rec.reason = f"computes {len(fmt.rows) * len(fmt.cols) / (rows * cols):.2f} of the dense MACs"
        if len(fmt.rows) == rows:
            return narrow
        return self._scatter_rows(narrow, fmt.rows, rows, rec, op_name)

    def _scatter_rows(self, narrow, kept, rows, rec, op_name):
        """out[:, r] = narrow[:, position of r in kept], and 0 for a pruned row r."""
        pos = np.zeros(rows, "int32")
        pos[kept] = np.arange(len(kept))
        keep = np.zeros(rows, "float32")
        keep[kept] = 1.0
        y = self.builder_.emit(narrow)
        narrow_shape = [int(d) for d in y.ty.shape]
        gv = self.builder_.add_func(row_scatter.build(narrow_shape, rows), "dsprune_row_scatter")
        rec.format += ", scattered back"
        rec.kernel = f"{op_name} + {gv.name_hint}"
        out_shape = [narrow_shape[0], rows, *narrow_shape[2:]]
        return relax.call_tir(gv, [y, relax.const(pos), relax.const(keep)],
                              out_ty=relax.TensorType(out_shape, "float32"))

    def _emit(self, func, data, fmt, rec, out_shape):
        func = func.with_attr("op_pattern", OUT_EWISE_FUSABLE).with_attr("dsprune.layer", rec.name)
        gv = self.builder_.add_func(func, "dsprune_group_dense")
        # empty rows: dropped from a compacted format; in place, the rows of blocks with no group
        dropped = (fmt.rows - fmt.kept_rows if self.local_accumulator else
                   min(fmt.rows, fmt.gr * int(np.count_nonzero(fmt.block_ptr[:, 1] == fmt.block_ptr[:, 0]))))
        rec.decision = "sparse"
        rec.format = (f"groups {fmt.gr}x{fmt.gc}: {fmt.stored} stored"
                      + (f", {dropped}/{fmt.rows} empty rows not computed" if dropped else ""))
        rec.kernel = gv.name_hint
        rec.reason = f"computes {fmt.density:.2f} of the dense MACs"
        self.names.add(fmt.group_val, rec.name, rec.position)             # the kernel's layer, for the profile
        args = ([data, relax.const(fmt.row_pos)] if self.local_accumulator else [data]) + [
            relax.const(fmt.block_ptr), relax.const(fmt.group_col), relax.const(fmt.group_val)]
        return relax.call_tir(gv, args, out_ty=relax.TensorType(out_shape, "float32"))


@tvm.ir.transform.module_pass(opt_level=0, name="SparsifyDense")
class SparsifyDense:
    """mode: "auto" | "on" | "off"; cost: the target's SparseCost; local_accumulator as in
    SparsifyDepthwise (the GPU form; otherwise the CPU's tiled form); vector_lanes: pixels per
    block instance of the GPU form, the CPU's vector width for its pixel tiles
    (kernels/group_dense.py; Mali: 4). Records travel with the module, as in SparsifyDepthwise."""

    def __init__(self, cost, mode: str = "auto", local_accumulator: bool = False, vector_lanes: int | None = None):
        self.cost, self.mode, self.local_accumulator = cost, check_sparse_mode(mode), local_accumulator
        self.vector_lanes = vector_lanes or (1 if local_accumulator else 8)

    def transform_module(self, mod, ctx):
        rw = _Rewriter(mod, self.cost, self.mode, self.local_accumulator, self.vector_lanes)
        for gv, func in mod.functions_items():
            if isinstance(func, relax.Function):
                rw.builder_.update_func(gv, rw.visit_expr(func))
        return with_records(rw.names.attach(rw.builder_.get()), rw.records)

