"""Schedule rules the GPU families share (CUDA and OpenCL/Mali), parameterised by each family's
tile choices. Every knob is a MetaSchedule design-space decision when `tunable` is set
(sample_categorical over aligned values) and the family's default otherwise.

- dr_depthwise: threadIdx.x runs along output pixels (coalesced loads), threadIdx.y across
  channels of one DR sub-GEMM; every warp walks one channel's compact list of kept taps, so the
  K loop is uniform in the warp and its length is the pruned K. Where a thread block owns whole
  channel planes and they fit, the input planes are staged in shared memory first (cooperative,
  coalesced) and the taps read them from there.
- group_dense: threadIdx.x along pixels (the input rows of a group load coalesced), threadIdx.y
  across row blocks; each thread computes the gr rows of its block, walking the block's groups
  (balanced blocks — `--balanced` — give every warp the same work). On Mali every thread also
  takes 4 consecutive pixels as float4 (the kernel's vector lanes: vload4 of the input rows).
- dense_depthwise: depthwise convs that stay dense get the same mapping with their taps unrolled,
  instead of dlight's one 256-thread group per output pixel.
- leftovers: any fused block no rule placed (a broadcast epilogue) gets its own kernel: nothing
  runs on the host.
"""
from __future__ import annotations

from dataclasses import dataclass

from .common import block_named, inline_consumers, loop_extent, written_shape


@dataclass(frozen=True)
class GPUKnobs:
    """A family's candidate values (aligned) and defaults for each schedule knob."""
    pixel_threads: tuple[int, ...] = (32, 64, 128)
    default_pixel_threads: int = 64
    channel_threads: tuple[int, ...] = (1, 2, 4, 8)
    default_channel_threads: int = 4
    block_threads: tuple[int, ...] = (1, 2, 4)
    default_block_threads: int = 2
    pixel_vector: int = 1                   # pixels per thread, vectorised (Mali: 4 = float4)
    shared_staging: bool = True             # stage input planes in shared memory when they fit
    shared_bytes: int = 32768
    max_threads: int = 1024


def knob(sch, tunable: bool, candidates: tuple[int, ...], default: int, limit: int | None = None):
    """A design-space decision over `candidates` (tunable), else `default` (a plain int)."""
    cands = [c for c in candidates if limit is None or (c <= limit and limit % c == 0)] or [default]
    if tunable and len(cands) > 1:
        return sch.sample_categorical(cands, [1.0 / len(cands)] * len(cands))
    return default if default in cands else cands[0]


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


def schedule_dr_depthwise(func, target, tunable, knobs: GPUKnobs = GPUKnobs()):
    from tvm import s_tir

    if "gpu" not in target.keys:
        return None
    sch = s_tir.Schedule(func)
    main = block_named(sch, "dr_depthwise")
    if main is None:
        return None
    out = sch.get_sblock("dr_depthwise_out")
    inline_consumers(sch, out)
    n, c, y, x = sch.get_loops(main)
    channels = loop_extent(sch, c)
    ty = knob(sch, tunable, knobs.channel_threads, knobs.default_channel_threads, channels)
    tx = knob(sch, tunable, knobs.pixel_threads, knobs.default_pixel_threads)
    in_shape = [int(d) for d in sch.get(main).reads[-1].source.shape]
    plane_bytes = in_shape[2] * in_shape[3] * 4
    cty = ty if isinstance(ty, int) else max(knobs.channel_threads)
    stage = knobs.shared_staging and plane_bytes * cty <= knobs.shared_bytes
    p = sch.fuse(y, x)
    co, ci = sch.split(c, [None, ty])
    po, pi = sch.split(p, [None, tx])
    sch.reorder(n, co, po, ci, pi)
    if stage:                               # a block owns whole planes: stage them, walk the tiles
        bx = sch.fuse(n, co)
        sch.bind(bx, "blockIdx.x")
    else:
        bx = sch.fuse(n, co, po)
        sch.bind(bx, "blockIdx.x")
    sch.bind(ci, "threadIdx.y")
    sch.bind(pi, "threadIdx.x")
    sch.reverse_compute_at(out, pi)
    sch.set_scope(main, 0, "local")
    if stage:
        cache = sch.cache_read(main, len(sch.get(main).reads) - 1, "shared")
        sch.compute_at(cache, bx)
        loops = sch.get_loops(cache)[1:]
        fused = sch.fuse(*loops)
        _, cy, cx = sch.split(fused, [None, ty, tx])
        sch.bind(cy, "threadIdx.y")
        sch.bind(cx, "threadIdx.x")
    bind_leftovers(sch, knobs.default_pixel_threads)
    return sch


def schedule_group_dense(func, target, tunable, knobs: GPUKnobs = GPUKnobs()):
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
    loops = sch.get_loops(main)
    threads = knobs.default_pixel_threads
    if len(loops) == 3:                               # 1x1 conv: (n, row block, pixel [vector])
        n, b, p = loops                               # (the kernel's own lanes vectorise pixels)
        tx = knob(sch, tunable, knobs.pixel_threads, knobs.default_pixel_threads)
        ty = knob(sch, tunable, knobs.block_threads, knobs.default_block_threads, loop_extent(sch, b))
        po, pi = sch.split(p, [None, tx])
        bo, bi = sch.split(b, [None, ty])
        sch.reorder(n, bo, po, bi, pi)
        sch.bind(sch.fuse(n, bo, po), "blockIdx.x")
        sch.bind(bi, "threadIdx.y")
        sch.bind(pi, "threadIdx.x")
    else:                                             # dense layer: (row, row block)
        fused = sch.fuse(*loops)
        bx, tx = sch.split(fused, [None, threads])
        sch.bind(bx, "blockIdx.x")
        sch.bind(tx, "threadIdx.x")
    # the gather (row_pos) is its own kernel, its threads along pixels; the epilogue rides in it
    gl = sch.get_loops(gather)
    fused = sch.fuse(*gl)
    total = loop_extent(sch, fused)
    vec = knobs.pixel_vector if len(gl) == 3 and int(written_shape(sch, out)[-1]) % knobs.pixel_vector == 0 \
        and total % knobs.pixel_vector == 0 else 1
    bx, tx, tv = sch.split(fused, [None, threads, vec])
    sch.bind(bx, "blockIdx.x")
    sch.bind(tx, "threadIdx.x")
    sch.reverse_compute_at(out, tx if vec == 1 else tv)
    bind_leftovers(sch, threads)
    return sch


def schedule_dense_depthwise(func, target, tunable, knobs: GPUKnobs = GPUKnobs()):
    """A depthwise conv left dense: threads along pixels and channels, taps unrolled."""
    from tvm import s_tir

    if "gpu" not in target.keys:
        return None
    sch = s_tir.Schedule(func)
    conv = None
    for name in ("group_conv2d_nchw", "depthwise_conv2d_nchw"):
        conv = block_named(sch, name)
        if conv is not None:
            break
    if conv is None:
        return None
    loops = sch.get_loops(conv)
    if len(loops) != 7 or loop_extent(sch, loops[4]) != 1:
        return None
    consumers = sch.get_consumers(conv)
    pad = block_named(sch, "pad_temp")
    if pad is not None:
        sch.compute_inline(pad)
    tail = None
    while len(consumers) == 1:                       # fold the epilogue chain into its last block
        nxt = consumers[0]
        if tail is not None:
            sch.compute_inline(tail)
        tail = nxt
        consumers = sch.get_consumers(nxt)
    nn, ff, yy, xx, rc, ry, rx = loops
    ty = knob(sch, tunable, knobs.channel_threads, knobs.default_channel_threads, loop_extent(sch, ff))
    tx = knob(sch, tunable, knobs.pixel_threads, knobs.default_pixel_threads)
    p = sch.fuse(yy, xx)
    fo, fi = sch.split(ff, [None, ty])
    po, pi = sch.split(p, [None, tx])
    sch.reorder(nn, fo, po, fi, pi, rc, ry, rx)
    sch.bind(sch.fuse(nn, fo, po), "blockIdx.x")
    sch.bind(fi, "threadIdx.y")
    sch.bind(pi, "threadIdx.x")
    sch.unroll(ry)
    sch.unroll(rx)
    sch.set_scope(conv, 0, "local")
    if tail is not None:
        sch.reverse_compute_at(tail, pi)
    bind_leftovers(sch, knobs.default_pixel_threads)
    return sch


def family_rules(prefix: str, knobs: GPUKnobs) -> list:
    """The rule list of a GPU family: the three rules above with the family's knobs."""
    from functools import partial

    from .common import as_dlight_rules

    return as_dlight_rules([
        (f"{prefix}.dr_depthwise", partial(schedule_dr_depthwise, knobs=knobs)),
        (f"{prefix}.group_dense", partial(schedule_group_dense, knobs=knobs)),
        (f"{prefix}.dense_depthwise", partial(schedule_dense_depthwise, knobs=knobs)),
    ])
