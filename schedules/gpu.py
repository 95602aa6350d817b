"""Schedules the GPU families share (CUDA and OpenCL/Mali): plain thread binding.

Every output element of a sparse kernel is one thread: the DR kernel's thread walks its
channel's kept taps (padding inlined into the gather), the group-sparse thread walks its row
block's groups for gr rows. Correct on any GPU and never left to the host; the tuned, tiled
schedules of the families are in cuda.py and mali.py.
"""
from __future__ import annotations

from .common import block_named, inline_consumers


def _threads(target, default: int) -> int:
    limit = int(target.attrs.get("max_num_threads", default)) if hasattr(target, "attrs") else default
    return min(default, limit)


def bind_leftovers(sch, threads: int) -> None:
    """Give every top-level block that no thread binding covers its own kernel: an epilogue
    FuseOps fused in but that cannot inline (a broadcast, e.g. a squeeze-excite gate applied to a
    larger tensor) must not stay host code."""
    from tvm import tirx

    for blk in sch.get_child_blocks(sch.get_sblock("root")):
        loops = sch.get_loops(blk)
        if not loops or any(sch.get(lp).kind == tirx.ForKind.THREAD_BINDING for lp in loops):
            continue
        fused = sch.fuse(*loops)
        bx, tx = sch.split(fused, [None, threads])
        sch.bind(bx, "blockIdx.x")
        sch.bind(tx, "threadIdx.x")


def schedule_dr_depthwise(func, target, tunable, threads: int = 128):
    from tvm import s_tir

    if "gpu" not in target.keys:
        return None
    sch = s_tir.Schedule(func)
    main = block_named(sch, "dr_depthwise")
    if main is None:
        return None
    out = sch.get_sblock("dr_depthwise_out")
    inline_consumers(sch, out)
    fused = sch.fuse(*sch.get_loops(main))
    bx, tx = sch.split(fused, [None, _threads(target, threads)])
    sch.bind(bx, "blockIdx.x")
    sch.bind(tx, "threadIdx.x")
    sch.reverse_compute_at(out, tx)
    sch.set_scope(main, 0, "local")
    bind_leftovers(sch, _threads(target, threads))
    return sch


def schedule_group_dense(func, target, tunable, threads: int = 128):
    from tvm import s_tir

    if "gpu" not in target.keys:
        return None
    sch = s_tir.Schedule(func)
    main = block_named(sch, "group_dense")
    if main is None:
        return None
    out = sch.get_sblock("group_dense_out")
    gather = sch.get_sblock("group_dense_gather")
    inline_consumers(sch, out)
    n = _threads(target, threads)
    for blk in (main, gather):                 # the gather (row_pos) is its own kernel
        fused = sch.fuse(*sch.get_loops(blk))
        bx, tx = sch.split(fused, [None, n])
        sch.bind(bx, "blockIdx.x")
        sch.bind(tx, "threadIdx.x")
        if blk is gather:
            sch.reverse_compute_at(out, tx)
    bind_leftovers(sch, n)
    return sch
