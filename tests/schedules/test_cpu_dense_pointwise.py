"""The CPU 1x1 conv rule (dense_pointwise) on the bare GEMM kernel against numpy: both register
tile forms (pixels in the lanes, channels in the lanes), both task orders (channel tiles or
pixel tiles outer; on a large image pixel tiles run in blocks per task), the default the rule
picks for early and late MobileNet layers, and sampled design-space points."""
import numpy as np
import pytest

from tvm_dsprune import targets
from tvm_dsprune.kernels import pointwise


def run(sch, k, f, h, w, seed=0):
    import tvm

    rng = np.random.default_rng(seed)
    x = rng.standard_normal((1, k, h, w)).astype(np.float32)
    wt = rng.standard_normal((k, f)).astype(np.float32)
    target = targets.resolve("llvm").tvm()
    with target:
        ex = tvm.compile(sch.mod, target=target)
    dev = tvm.cpu()
    out = tvm.runtime.tensor(np.zeros((1, f, h, w), np.float32), dev)
    ex.mod["main"](tvm.runtime.tensor(x, dev), tvm.runtime.tensor(wt, dev), out)
    ref = np.einsum("kf,nkp->nfp", wt, x.reshape(1, k, h * w)).reshape(1, f, h, w)
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-4, atol=1e-4)


def schedule(k, f, h, w, order=None, tunable=False, seed=None, target="llvm"):
    from tvm_dsprune.schedules.cpu import dense_pointwise

    func = pointwise.build(1, k, f, h, w).with_attr("global_symbol", "main")
    target = targets.resolve(target).tvm()
    picked = []
    real = dense_pointwise._task_order

    def forced(sch, tunable_, fo, po, *rest):
        outer = real(sch, tunable_, fo, po, *rest)
        picked.append("pixels" if outer[0].same_as(po) else "channels")
        if order == "pixels":
            return po, fo
        if order == "channels":
            return fo, po
        return outer

    dense_pointwise._task_order = forced
    try:
        if seed is None:
            sch = dense_pointwise.DensePointwise().apply(func, target, tunable)
        else:
            from tvm import s_tir
            sch = s_tir.Schedule(func, seed=seed)
            sch = dense_pointwise.DensePointwise().schedule(sch, sch.get_sblock("pointwise"), target, True)
    finally:
        dense_pointwise._task_order = real
    assert sch is not None
    return sch, picked


@pytest.mark.parametrize("order", ["channels", "pixels"])
@pytest.mark.parametrize("k,f,h,w", [
    (16, 24, 16, 16),      # pixels in the lanes (256 pixels)
    (40, 24, 7, 7),        # channels in the lanes (49 pixels)
    (12, 10, 5, 7),        # odd: 35 pixels, 10 channels (no whole vector either way)
])
def test_both_task_orders_equal_numpy(k, f, h, w, order):
    sch, _ = schedule(k, f, h, w, order)
    run(sch, k, f, h, w)


def test_default_order_follows_the_bytes_read_again():
    # MobileNet-V2's 112x112 expansion: the input (16 x 12544) outgrows the caches, the weight
    # (16 x 96) does not: pixel tiles outer. Its last 1x1 conv at 7x7 (320 -> 1280): channels outer.
    assert schedule(16, 96, 112, 112)[1] == ["pixels"]
    assert schedule(320, 1280, 7, 7)[1] == ["channels"]


def parallel_extents(sch) -> list[int]:
    from tvm import tirx

    loops = [sch.get(lp) for lp in sch.get_loops(sch.get_sblock("pointwise_update"))]
    return [int(lp.extent) for lp in loops if lp.kind == tirx.ForKind.PARALLEL]


@pytest.mark.parametrize("k,f,h,w,tasks", [
    (8, 24, 64, 64, 4),        # 4096 pixels: 4 tasks of 1024
    (16, 24, 56, 56, 4),       # 3136 pixels, 196 tiles of 16: 4 tasks of 49 tiles
])
def test_pixel_tiles_outer_run_in_blocks_on_large_images(k, f, h, w, tasks):
    # The tile sizes follow the vector width: an AVX2 CPU (8 lanes) whatever the host, so that
    # the counts above hold; the scheduled kernel still runs here.
    sch, _ = schedule(k, f, h, w, "pixels", target="llvm -mcpu=znver3 -num-cores=2")
    assert parallel_extents(sch) == [tasks]
    run(sch, k, f, h, w)


@pytest.mark.parametrize("cores,tasks", [(2, [14]), (1, [7])])
def test_pixel_blocks_share_out_evenly_over_the_cores(cores, tasks):
    # AVX-512 at 56x56: 49 tiles of 64 pixels in 7 blocks; on two cores each block's channel
    # tiles are cut in two, so that the 14 tasks split 7 + 7 instead of 4 + 3
    target = f"llvm -mcpu=znver4 -num-cores={cores}"
    sch, _ = schedule(24, 144, 56, 56, "pixels", target=target)
    assert parallel_extents(sch) == tasks
    run(sch, 24, 144, 56, 56)          # built for this host: the same loop nest


def test_small_images_keep_one_tile_per_task():
    # 8 pixel tiles on an AVX2 CPU: too few for blocks
    sch, _ = schedule(16, 24, 16, 16, "pixels", target="llvm -mcpu=znver3 -num-cores=2")
    assert parallel_extents(sch)[0] > 8


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_sampled_design_space_points_equal_numpy(seed):
    sch, picked = schedule(24, 48, 8, 16, seed=seed)
    run(sch, 24, 48, 8, 16, seed)


@pytest.mark.parametrize("k,c,f,h,w", [(5, 13, 7, 9, 11), (24, 40, 16, 14, 14), (3, 8, 24, 56, 56), (40, 64, 48, 1, 1)])
def test_gathered_form_reads_the_kept_channels_in_place(k, c, f, h, w):
    """A compact layer's kernel: K of the input's C channels (odd counts, a vector input, a large
    image), read through the channel list, scheduled by the same rule."""
    import tvm

    from tvm_dsprune.schedules.cpu import dense_pointwise

    rng = np.random.default_rng(k)
    channels = np.sort(rng.choice(c, k, replace=False)).astype(np.int32)
    x = rng.standard_normal((1, c, h, w)).astype(np.float32)
    wt = rng.standard_normal((k, f)).astype(np.float32)
    func = pointwise.build(1, k, f, h, w, channels_in=c).with_attr("global_symbol", "main")
    target = targets.resolve("llvm").tvm()
    sch = dense_pointwise.DensePointwise().apply(func, target, False)
    if sch is None:                       # the rule's fallback case: too small to vectorise
        pytest.skip("the rule leaves this shape to the fallback")
    with target:
        ex = tvm.compile(sch.mod, target=target)
    dev = tvm.cpu()
    out = tvm.runtime.tensor(np.zeros((1, f, h, w), np.float32), dev)
    ex.mod["main"](tvm.runtime.tensor(x, dev), tvm.runtime.tensor(wt, dev), tvm.runtime.tensor(channels, dev), out)
    ref = np.einsum("kf,nkp->nfp", wt, x[:, channels].reshape(1, k, h * w)).reshape(1, f, h, w)
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-4, atol=1e-4)


def test_pointwise_as_gemm_folds_a_channel_gather_into_the_kernel():
    import tvm
    from tvm import relax

    from tvm_dsprune.relax.pointwise_gemm import PointwiseAsGemm

    cols = np.array([0, 2, 3, 7, 10], np.int32)
    w = np.random.default_rng(0).standard_normal((6, 5, 1, 1)).astype(np.float32)
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType((1, 11, 5, 5), "float32"))
    with bb.function("main", [x]):
        with bb.dataflow():
            kept = bb.emit(relax.op.take(x, relax.const(cols), axis=1))
            o = bb.emit_output(relax.op.nn.conv2d(kept, relax.const(w)))
        bb.emit_func_output(o)
    mod = PointwiseAsGemm()(bb.get())
    calls = [b.value for b in mod["main"].body.blocks[0].bindings]
    assert len(calls) == 1, "the gather is gone"
    args = list(calls[0].args[1].fields)
    assert args[0].same_as(mod["main"].params[0]) and np.array_equal(args[2].value.numpy(), cols)
    xs = np.random.default_rng(1).standard_normal((1, 11, 5, 5)).astype(np.float32)
    y = relax.VirtualMachine(tvm.compile(mod, "llvm"), tvm.cpu())["main"](tvm.runtime.tensor(xs)).numpy()
    np.testing.assert_allclose(y, np.einsum("fk,nkhw->nfhw", w[:, :, 0, 0], xs[:, cols]), rtol=1e-5, atol=1e-5)


def channel_tile(k, f, h, w, target) -> int:
    """The channel width of the rule's default tile (its first split of the channel loop)."""
    first = next(inst for inst in schedule(k, f, h, w, target=target)[0].trace.insts if inst.kind.name == "Split")
    return int(first.inputs[-1])


@pytest.mark.parametrize("k,f,h,w", [(64, 384, 14, 14), (160, 960, 7, 7)])
def test_sixteen_lanes_default_to_one_vector_of_channels(k, f, h, w):
    """On an AVX-512 CPU the channels-in-lanes tile is one vector of 16 channels by default:
    wider tiles (2-3 vectors of sums per pixel) ran 3-10x slower on Zen 4. Scheduled only (the
    host may lack AVX-512); the numeric tests above run whatever the host's width is."""
    assert channel_tile(k, f, h, w, "llvm -mcpu=znver4 -num-cores=2") == 16


@pytest.mark.parametrize("k,f,h,w,width", [(96, 40, 14, 14, 8), (40, 120, 14, 14, 8), (24, 20, 7, 7, 4)])
def test_channels_off_the_vector_width_take_narrower_vectors(k, f, h, w, width):
    """Neither the pixels (196, 49) nor the channels (40, 120, 20) are whole 16-lane vectors
    (MobileNet-V3's 40-channel layers at 14x14): the channels go in 8- or 4-lane vectors, not
    a whole pixel row in one odd-length vector (5-6x slower)."""
    assert channel_tile(k, f, h, w, "llvm -mcpu=znver4 -num-cores=2") == width
    sch, _ = schedule(k, f, h, w)
    run(sch, k, f, h, w)


def allocates_workspace(sch) -> bool:
    """Whether the built kernel asks the runtime for a workspace (a "local" buffer per task)."""
    import tvm

    target = targets.resolve("llvm").tvm()
    with target:
        ex = tvm.compile(sch.mod, target=target)
    return "@__TVMBackendAllocWorkspace, align" in ex.mod.inspect_source("ll")


def test_pixel_form_sums_take_no_workspace_allocation():
    # pixels in the lanes: the tile's sums are a stack slot of the task (registers after LLVM),
    # not a runtime workspace allocation per task
    sch, _ = schedule(24, 144, 56, 56)
    assert not allocates_workspace(sch)
    run(sch, 24, 144, 56, 56)


@pytest.mark.parametrize("k,f,h,w", [(64, 384, 14, 14), (96, 40, 14, 14), (160, 960, 7, 7)])
def test_channel_form_sums_are_pixel_major_in_a_stack_slot(k, f, h, w):
    # channels in the lanes: the sums buffer is [pixel, channel], so that a vector of channels
    # is contiguous where the epilogue reads it (channel-major, each epilogue vector was
    # gathered lane by lane), and a stack slot, not a workspace allocation per task
    sch, _ = schedule(k, f, h, w)
    (acc,) = [b for b in sch.mod["main"].body.block.alloc_buffers if b.name.startswith("acc")]
    assert [int(d) for d in acc.shape] == [1, h * w, f] and acc.scope() == "global"
    assert not allocates_workspace(sch)
    run(sch, k, f, h, w)
