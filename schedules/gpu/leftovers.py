"""Every top-level block that no thread binding covers gets a kernel of its own."""
from __future__ import annotations


def bind_leftovers(sch, threads: int) -> None:
    """An epilogue FuseOps fused in but that cannot inline (a broadcast, e.g. a squeeze-excite
    gate applied to a larger tensor) must not stay host code."""
    from tvm import tirx

    for blk in sch.get_child_blocks(sch.get_sblock("root")):
        loops = sch.get_loops(blk)
        if not loops or any(sch.get(lp).kind == tirx.ForKind.THREAD_BINDING for lp in loops):
            continue
        fused = sch.fuse(*loops)
        bx, tx = sch.split(fused, [None, threads])
        sch.bind(bx, "blockIdx.x")
        sch.bind(tx, "threadIdx.x")
