"""SparsifyDepthwise, Before/Expected like TVM's own test_transform_* tests."""
import numpy as np
import pytest
import tvm
from tvm import relax

from tvm_dsprune.kernels import dr_depthwise
from tvm_dsprune.relax.layer_records import NAMES_ATTR, RECORDS_ATTR, records as records_of
from tvm_dsprune.relax.sparsify_depthwise import OUT_EWISE_FUSABLE, SHAPES_ATTR, SparsifyDepthwise, cpu_shapes
from tvm_dsprune.schedules import cpu
from tvm_dsprune.sparse import dr_format

GEOMETRY, COST = cpu.GEOMETRY, cpu.COST


def pruned_weight(c, k, keep=0.3, seed=0):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((c, 1, k, k)).astype("float32")
    return np.where(rng.random(w.shape) < keep, w, 0).astype("float32")


def dw_module(w, x_shape=(1, 40, 8, 8), strides=(1, 1), padding=(1, 1), groups=None):
    bias = np.arange(w.shape[0], dtype="float32").reshape(1, -1, 1, 1)
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType(x_shape, "float32"))
    with bb.function("main", [x]):
        with bb.dataflow():
            y = bb.emit(relax.op.nn.conv2d(x, relax.const(w), strides=strides, padding=padding,
                                           groups=groups or x_shape[1]))
            z = bb.emit(relax.op.add(y, relax.const(bias)))
            o = bb.emit_output(z)
        bb.emit_func_output(o)
    return bb.get(), bias


def expected_module(w, bias, x_shape=(1, 40, 8, 8), strides=(1, 1), padding=(1, 1, 1, 1), name="dw_1"):
    fmt = dr_format.from_weight(w, GEOMETRY.dr_group, GEOMETRY.k_tile)
    shape = dr_depthwise.DWConvShape(*x_shape, w.shape[2], w.shape[3], strides, padding)
    tile = dr_depthwise.cpu_tile(shape.out_hw[1], 8)
    rows = dr_depthwise.cpu_rows(shape.out_hw[0], tile // 8)
    func = dr_depthwise.build_cpu(shape, fmt.col_val.size, tile, rows, 8)
    func = func.with_attr("op_pattern", OUT_EWISE_FUSABLE).with_attr("dsprune.layer", name)
    oh, ow = shape.out_hw
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType(x_shape, "float32"))
    with bb.function("main", [x]):
        with bb.dataflow():
            gv = bb.add_func(func, "dsprune_dr_depthwise")
            offsets = dr_depthwise.tap_offsets(shape, tile, fmt.col_tap.reshape(-1))
            y = bb.emit(relax.call_tir(gv, [x, relax.const(fmt.chan_ptr), relax.const(offsets),
                                            relax.const(fmt.col_val.reshape(-1))],
                                       out_ty=relax.TensorType((x_shape[0], x_shape[1], oh, ow), "float32")))
            z = bb.emit(relax.op.add(y, relax.const(bias)))
            o = bb.emit_output(z)
        bb.emit_func_output(o)
    return bb.get()


def test_pruned_depthwise_becomes_the_dr_kernel():
    w = pruned_weight(40, 3)
    before, bias = dw_module(w)
    after = SparsifyDepthwise(GEOMETRY, COST, "on", 8)(before)
    # the CPU form's conv geometry travels with the module, for the fusion pass after it
    assert cpu_shapes(after) == {"dsprune_dr_depthwise": dr_depthwise.DWConvShape(1, 40, 8, 8, 3, 3, (1, 1), (1, 1, 1, 1))}
    records, after = records_of(after), after.without_attr(RECORDS_ATTR).without_attr(NAMES_ATTR).without_attr(SHAPES_ATTR)
    tvm.ir.assert_structural_equal(after, expected_module(w, bias))
    assert records[0].decision == "sparse" and records[0].density == pytest.approx(np.count_nonzero(w) / w.size)


def test_stride_two_and_five_by_five():
    w = pruned_weight(72, 5, seed=1)
    before, bias = dw_module(w, (1, 72, 15, 15), strides=(2, 2), padding=(2, 2))
    after = SparsifyDepthwise(GEOMETRY, COST, "on", 8)(before)
    after = after.without_attr(RECORDS_ATTR).without_attr(NAMES_ATTR).without_attr(SHAPES_ATTR)
    tvm.ir.assert_structural_equal(after, expected_module(w, bias, (1, 72, 15, 15), (2, 2), (2, 2, 2, 2)))


@pytest.mark.parametrize("why,mod_args,mode,reason", [
    ("unpruned", dict(keep=1.0), "on", "not pruned"),
    ("sparse off", dict(keep=0.3), "off", "--sparse off"),
    ("cost model", dict(keep=0.97), "auto", "cost model"),
])
def test_layers_that_stay_dense_are_reported(why, mod_args, mode, reason):
    w = pruned_weight(40, 3, **mod_args)
    before, _ = dw_module(w)
    after = SparsifyDepthwise(GEOMETRY, COST, mode, GEOMETRY.pixel_tile)(before)
    records, after = records_of(after), after.without_attr(RECORDS_ATTR).without_attr(NAMES_ATTR)
    tvm.ir.assert_structural_equal(after, before)
    assert records[0].decision == "dense" and reason in records[0].reason


def test_channel_multiplier_two_stays_dense():
    w = pruned_weight(80, 3)            # 40 input channels, 80 outputs: multiplier 2
    before, _ = dw_module(w, groups=40)
    after = SparsifyDepthwise(GEOMETRY, COST, "on")(before)
    records, after = records_of(after), after.without_attr(RECORDS_ATTR).without_attr(NAMES_ATTR)
    tvm.ir.assert_structural_equal(after, before)
    assert "channel multiplier 2" in records[0].reason


def test_pointwise_conv_is_not_touched():
    w = pruned_weight(16, 1).reshape(16, 1, 1, 1).repeat(8, axis=1)
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType((1, 8, 4, 4), "float32"))
    with bb.function("main", [x]):
        with bb.dataflow():
            o = bb.emit_output(relax.op.nn.conv2d(x, relax.const(w)))
        bb.emit_func_output(o)
    before = bb.get()
    after = SparsifyDepthwise(GEOMETRY, COST, "on")(before)
    records, after = records_of(after), after.without_attr(RECORDS_ATTR).without_attr(NAMES_ATTR)
    tvm.ir.assert_structural_equal(after, before)
    assert records == []
