"""Build one sparse kernel on its own (CPU or GPU form), schedule the CPU form with the CPU
rules, run it on numpy arrays (the GPU form runs unscheduled on the CPU: same numbers)."""
from __future__ import annotations

import numpy as np
import tvm

from tvm_dsprune.kernels import dr_depthwise, group_dense
from tvm_dsprune.schedules.cpu.dr_depthwise import DRDepthwise
from tvm_dsprune.schedules.cpu.group_dense import GroupDense
from tvm_dsprune.sparse import dr_format, group_format

TARGET = tvm.target.Target({"kind": "llvm", "num-cores": 2})
LANES = 8


def _build(func, rule, schedule: bool):
    func = func.with_attr("global_symbol", "main")
    if schedule:
        sch = rule.apply(func, TARGET, False)
        assert sch is not None, "the CPU rule must apply"
        func = sch.mod["main"]
    return tvm.compile(tvm.IRModule({"main": func}), target=TARGET)


def run_depthwise(x, w, stride=(1, 1), padding=(1, 1, 1, 1), dilation=(1, 1), group=16, k_tile=4,
                  tile=None, rows=2, schedule=True, local=False):
    n, c, h, wd = x.shape
    fmt = dr_format.from_weight(w, group, k_tile)
    shape = dr_depthwise.DWConvShape(n, c, h, wd, w.shape[2], w.shape[3], stride, padding, dilation)
    taps = fmt.col_tap.reshape(-1)
    if local:
        func = dr_depthwise.build_gpu(shape, fmt.col_val.size)
    else:
        tile = tile or dr_depthwise.cpu_tile(shape.out_hw[1], LANES)
        func = dr_depthwise.build_cpu(shape, fmt.col_val.size, tile, rows)
        taps = dr_depthwise.tap_offsets(shape, tile, taps)
    lib = _build(func, DRDepthwise(), schedule and not local)
    oh, ow = shape.out_hw
    out = tvm.runtime.tensor(np.zeros((n, c, oh, ow), "float32"))
    lib["main"](tvm.runtime.tensor(x), tvm.runtime.tensor(fmt.chan_ptr), tvm.runtime.tensor(taps),
                tvm.runtime.tensor(fmt.col_val.reshape(-1)), out)
    return out.numpy(), fmt


def _run_group(x, w2d, shape, spatial, schedule, local, tile):
    n, k = x.shape[:2]
    f = w2d.shape[0]
    fmt = group_format.cover(w2d, shape, compact=local)
    if local:
        func = group_dense.build_gpu(n, k, f, spatial, fmt.gr, fmt.gc, fmt.group_val.shape[0], fmt.num_blocks)
        args = [fmt.row_pos, fmt.block_ptr, fmt.group_col, fmt.group_val]
    else:
        pixels = int(np.prod(spatial)) if spatial else 1
        tile = tile or group_dense.pixel_tile(pixels, LANES, fmt.gr)
        func = group_dense.build_cpu(n, k, f, spatial, fmt.gr, fmt.gc, fmt.group_val.shape[0], fmt.num_blocks,
                                     tile, LANES)
        args = [fmt.block_ptr, fmt.group_col, fmt.group_val]
    lib = _build(func, GroupDense(), schedule and not local)
    out = tvm.runtime.tensor(np.zeros((n, f, *spatial), "float32"))
    lib["main"](tvm.runtime.tensor(x), *[tvm.runtime.tensor(a) for a in args], out)
    return out.numpy(), fmt


def run_conv1x1(x, w2d, shape=(1, 4), schedule=True, local=False, tile=None):
    return _run_group(x, w2d, shape, tuple(x.shape[2:]), schedule, local, tile)


def run_matmul(x, w2d, shape=(1, 4), schedule=True, local=False):
    return _run_group(x, w2d, shape, (), schedule, local, 1)


def run_dw_pointwise(x, w, dw_bias, act, pw, group_shape, stride=(1, 1), padding=(1, 1, 1, 1), dilation=(1, 1),
                     band=None):
    """The fused depthwise + group-sparse 1x1 kernel (CPU form, scheduled by its rule) on x."""
    from tvm_dsprune.kernels import dw_pointwise
    from tvm_dsprune.schedules.cpu.dw_pointwise import DWPointwise

    n, c, h, wd = x.shape
    fmt = dr_format.from_weight(w, 16, 4)
    shape = dr_depthwise.DWConvShape(n, c, h, wd, w.shape[2], w.shape[3], stride, padding, dilation)
    oh, ow = shape.out_hw
    tile = dr_depthwise.cpu_tile(ow, LANES)
    taps = dr_depthwise.tap_offsets(shape, tile, fmt.col_tap.reshape(-1))
    g = group_format.cover(pw, group_shape, compact=False)
    band = band or dw_pointwise.band_rows(oh, dr_depthwise.plane_layout(shape, tile).out_width, LANES)
    func = dw_pointwise.build_cpu(shape, fmt.col_val.size, act, pw.shape[0], g.gr, g.gc, g.group_val.shape[0],
                                  g.num_blocks, band, LANES)
    lib = _build(func, DWPointwise(), True)
    out = tvm.runtime.tensor(np.zeros((n, pw.shape[0], oh, ow), "float32"))
    args = [x, fmt.chan_ptr, taps, fmt.col_val.reshape(-1), dw_bias, g.block_ptr, g.group_col, g.group_val]
    lib["main"](*[tvm.runtime.tensor(np.ascontiguousarray(a)) for a in args], out)
    return out.numpy()
