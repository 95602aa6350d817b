"""FuseDepthwisePointwise, Before/Expected: a pruned depthwise conv, its bias and activation, and
the group-sparse 1x1 conv after it become one call of the fused kernel on the same format
arrays; where the depthwise output has another use, or the cost model keeps the pair apart, the
module is left as it was."""
import numpy as np
import pytest
import tvm
from tvm import relax

from relax_module import module
from tvm_dsprune.kernels import dr_depthwise, dw_pointwise
from tvm_dsprune.relax.fuse_dw_pointwise import FuseDepthwisePointwise
from tvm_dsprune.relax.layer_records import NAMES_ATTR, RECORDS_ATTR, records as records_of
from tvm_dsprune.relax.sparsify_dense import SparsifyDense
from tvm_dsprune.relax.sparsify_depthwise import OUT_EWISE_FUSABLE, SHAPES_ATTR, SparsifyDepthwise
from tvm_dsprune.schedules import cpu
from tvm_dsprune.sparse import dr_format, group_format

COST, GEOMETRY, LANES = cpu.COST, cpu.GEOMETRY, 8
C, F = 32, 24


def weights(h, seed=0):
    rng = np.random.default_rng(seed)
    dw = rng.standard_normal((C, 1, 3, 3)).astype("float32")
    dw[rng.random(dw.shape) < 0.8] = 0
    pw = rng.standard_normal((F, C)).astype("float32")
    pw[rng.random(pw.shape) < 0.85] = 0
    bias = rng.standard_normal((1, C, 1, 1)).astype("float32")
    return dw, pw, bias


def block(dw, pw, bias, stride=1, act="relu6", extra_use=False):
    def body(bb, x):
        d = bb.emit(relax.op.nn.conv2d(x, relax.const(dw), strides=stride, padding=1, groups=C))
        e = bb.emit(relax.op.add(d, relax.const(bias)))
        if act == "relu6":
            e = bb.emit(relax.op.clip(e, 0.0, 6.0))
        elif act == "relu":
            e = bb.emit(relax.op.nn.relu(e))
        p = bb.emit(relax.op.nn.conv2d(e, relax.const(pw.reshape(F, C, 1, 1))))
        return bb.emit(relax.op.add(p, relax.op.mean(d, axis=[1], keepdims=True))) if extra_use else p
    return body


def sparsified(mod):
    mod = SparsifyDepthwise(GEOMETRY, COST, "on", LANES)(mod)
    return SparsifyDense(COST, "on", vector_lanes=LANES)(mod)


def strip(mod):
    return mod.without_attr(RECORDS_ATTR).without_attr(NAMES_ATTR).without_attr(SHAPES_ATTR)


@pytest.mark.parametrize("act", ["relu6", "relu", "none"])
def test_the_pair_becomes_one_kernel(act):
    h = 14
    dw, pw, bias = weights(h)
    before = sparsified(module(block(dw, pw, bias, act=act), (1, C, h, h)))
    after = FuseDepthwisePointwise(COST, LANES)(before)

    shape = dr_depthwise.DWConvShape(1, C, h, h, 3, 3, (1, 1), (1, 1, 1, 1))
    fmt = dr_format.from_weight(dw, GEOMETRY.dr_group, GEOMETRY.k_tile)
    tile = dr_depthwise.cpu_tile(h, LANES)
    taps = dr_depthwise.tap_offsets(shape, tile, fmt.col_tap.reshape(-1))
    g = group_format.choose_shape(pw, COST.group_shapes, COST.group_fixed, compact=False)
    band = dw_pointwise.band_rows(h, dr_depthwise.plane_layout(shape, tile).out_width, LANES)
    func = dw_pointwise.build_cpu(shape, fmt.col_val.size, act, F, g.gr, g.gc, g.group_val.shape[0], g.num_blocks,
                                  band, LANES)
    func = func.with_attr("op_pattern", OUT_EWISE_FUSABLE).with_attr("dsprune.layer", "pw_2")

    def expected(bb, x):
        gv = bb.add_func(func, "dsprune_dw_pointwise")
        return bb.emit(relax.call_tir(gv, [x, relax.const(fmt.chan_ptr), relax.const(taps),
                                           relax.const(fmt.col_val.reshape(-1)), relax.const(bias.reshape(-1)),
                                           relax.const(g.block_ptr), relax.const(g.group_col),
                                           relax.const(g.group_val)],
                                      out_ty=relax.TensorType((1, F, h, h), "float32")))
    tvm.ir.assert_structural_equal(strip(after), module(expected, (1, C, h, h)))
    recs = {r.name: r for r in records_of(after)}
    assert "fused with pw_2" in recs["dw_1"].format
    assert recs["dw_1"].kernel == recs["pw_2"].kernel == "dsprune_dw_pointwise"


def test_a_depthwise_output_used_twice_is_not_fused():
    dw, pw, bias = weights(14)
    before = sparsified(module(block(dw, pw, bias, extra_use=True), (1, C, 14, 14)))
    after = FuseDepthwisePointwise(COST, LANES)(before)
    tvm.ir.assert_structural_equal(after, before)


def test_the_cost_model_keeps_the_pair_apart_outside_its_widths():
    dw, pw, bias = weights(14)
    before = sparsified(module(block(dw, pw, bias, stride=2), (1, C, 14, 14)))     # 14x14 -> 7x7
    assert not COST.depthwise_pointwise_fuse(7) and COST.depthwise_pointwise_fuse(14)
    tvm.ir.assert_structural_equal(FuseDepthwisePointwise(COST, LANES)(before), before)
    before = sparsified(module(block(dw, pw, bias, stride=2), (1, C, 28, 28)))     # 28x28 -> 14x14
    after = FuseDepthwisePointwise(COST, LANES)(before)
    assert "dsprune_dw_pointwise" in [gv.name_hint for gv in after.get_global_vars()]


def test_gpu_forms_are_left_alone():
    dw, pw, bias = weights(14)
    mod = module(block(dw, pw, bias), (1, C, 14, 14))
    mod = SparsifyDepthwise(GEOMETRY, COST, "on", LANES, local_accumulator=True)(mod)
    before = SparsifyDense(COST, "on", local_accumulator=True)(mod)
    tvm.ir.assert_structural_equal(FuseDepthwisePointwise(COST, LANES)(before), before)


def test_two_layers_sharing_kernels_each_get_their_records():
    dw, pw, bias = weights(14)
    dw2, pw2 = dw * 2, np.ascontiguousarray(pw[::-1])             # the same kernels, other weights
    pw_sq = np.zeros((C, C), "float32")
    pw_sq[:F] = pw
    pw2_sq = np.zeros((C, C), "float32")
    pw2_sq[:F] = pw2

    def body(bb, x):
        y = x
        for w, p in ((dw, pw_sq), (dw2, pw2_sq)):
            d = bb.emit(relax.op.nn.conv2d(y, relax.const(w), padding=1, groups=C))
            e = bb.emit(relax.op.nn.relu(bb.emit(relax.op.add(d, relax.const(bias)))))
            y = bb.emit(relax.op.nn.conv2d(e, relax.const(p.reshape(C, C, 1, 1))))
        return y
    before = sparsified(module(body, (1, C, 14, 14)))
    after = FuseDepthwisePointwise(COST, LANES)(before)
    recs = records_of(after)
    dws = [r for r in recs if r.op == "dw"]
    pws = [r for r in recs if r.op == "pw"]
    assert [r.format.split("; fused with ")[-1] for r in dws] == [p.name for p in pws]
    assert all(d.kernel == p.kernel for d, p in zip(dws, pws))
    names = {gv.name_hint for gv in after.get_global_vars()}
    assert not any("dr_depthwise" in n or "group_dense" in n for n in names)
