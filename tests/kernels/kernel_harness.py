"""Build one sparse kernel on its own, schedule it with the CPU rules, run it on numpy arrays."""
from __future__ import annotations

import numpy as np
import tvm

from tvm_dsprune.kernels import dr_depthwise, group_dense
from tvm_dsprune.schedules.cpu.dr_depthwise import DRDepthwise
from tvm_dsprune.schedules.cpu.group_dense import GroupDense
from tvm_dsprune.sparse import dr_format, group_format

TARGET = tvm.target.Target({"kind": "llvm", "num-cores": 2})


def _build(func, schedule: bool):
    func = func.with_attr("global_symbol", "main")
    if schedule:
        rule = DRDepthwise() if "chan_ptr" in func.script() else GroupDense()
        sch = rule.apply(func, TARGET, False)
        assert sch is not None, "the CPU rule must apply"
        func = sch.mod["main"]
    return tvm.compile(tvm.IRModule({"main": func}), target=TARGET)


def run_depthwise(x, w, stride=(1, 1), padding=(1, 1, 1, 1), dilation=(1, 1), group=16, k_tile=4,
                  width_multiple=16, schedule=True, local=False):
    n, c, h, wd = x.shape
    fmt = dr_format.from_weight(w, group, k_tile)
    shape = dr_depthwise.DWConvShape(n, c, h, wd, w.shape[2], w.shape[3], stride, padding, dilation)
    func = dr_depthwise.build(shape, fmt.col_val.size, width_multiple, local_accumulator=local)
    lib = _build(func, schedule and not local)
    oh, ow = shape.out_hw
    out = tvm.runtime.tensor(np.zeros((n, c, oh, ow), "float32"))
    lib["main"](tvm.runtime.tensor(x), tvm.runtime.tensor(fmt.chan_ptr), tvm.runtime.tensor(fmt.col_tap.reshape(-1)),
                tvm.runtime.tensor(fmt.col_val.reshape(-1)), out)
    return out.numpy(), fmt


def run_conv1x1(x, w2d, shape=(1, 4), schedule=True, local=False):
    n, k, h, wd = x.shape
    fmt = group_format.cover(w2d, shape)
    func = group_dense.build_conv1x1(n, k, w2d.shape[0], h, wd, fmt.gr, fmt.gc, fmt.group_val.shape[0],
                                     fmt.num_blocks, local_accumulator=local)
    lib = _build(func, schedule and not local)
    out = tvm.runtime.tensor(np.zeros((n, w2d.shape[0], h, wd), "float32"))
    lib["main"](tvm.runtime.tensor(x), tvm.runtime.tensor(fmt.row_pos), tvm.runtime.tensor(fmt.block_ptr), tvm.runtime.tensor(fmt.group_col),
                tvm.runtime.tensor(fmt.group_val), out)
    return out.numpy(), fmt


def run_matmul(x, w2d, shape=(1, 4), schedule=True, local=False):
    m, k = x.shape
    fmt = group_format.cover(w2d, shape)
    func = group_dense.build_matmul(m, k, w2d.shape[0], fmt.gr, fmt.gc, fmt.group_val.shape[0], fmt.num_blocks,
                                    local_accumulator=local)
    lib = _build(func, schedule and not local)
    out = tvm.runtime.tensor(np.zeros((m, w2d.shape[0]), "float32"))
    lib["main"](tvm.runtime.tensor(x), tvm.runtime.tensor(fmt.row_pos), tvm.runtime.tensor(fmt.block_ptr), tvm.runtime.tensor(fmt.group_col),
                tvm.runtime.tensor(fmt.group_val), out)
    return out.numpy(), fmt
