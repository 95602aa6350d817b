"""SparsifyDense, Before/Expected like TVM's own test_transform_* tests."""
import numpy as np
import pytest
import tvm
from tvm import relax

from relax_module import module
from tvm_dsprune.kernels import group_dense, row_scatter
from tvm_dsprune.relax.layer_records import NAMES_ATTR, RECORDS_ATTR, records as records_of
from tvm_dsprune.relax.sparsify_dense import SparsifyDense
from tvm_dsprune.relax.sparsify_depthwise import OUT_EWISE_FUSABLE
from tvm_dsprune.schedules import cpu
from tvm_dsprune.sparse import group_format

COST = cpu.COST


def pruned(f, k, keep=0.2, seed=0):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((f, k)).astype("float32")
    return np.where(rng.random(w.shape) < keep, w, 0).astype("float32")


def test_pruned_1x1_conv_becomes_the_group_kernel():
    w = pruned(24, 16)
    before = module(lambda bb, x: bb.emit(relax.op.nn.conv2d(x, relax.const(w.reshape(24, 16, 1, 1)))), (1, 16, 7, 7))
    after = SparsifyDense(COST, "on")(before)
    records, after = records_of(after), after.without_attr(RECORDS_ATTR).without_attr(NAMES_ATTR)
    fmt = group_format.choose_shape(w, COST.group_shapes, COST.group_fixed, compact=False)
    func = group_dense.build_cpu(1, 16, 24, (7, 7), fmt.gr, fmt.gc, fmt.group_val.shape[0], fmt.num_blocks,
                                 group_dense.pixel_tile(49, 8, fmt.gr), 8)
    func = func.with_attr("op_pattern", OUT_EWISE_FUSABLE).with_attr("dsprune.layer", "pw_1")

    def body(bb, x):
        gv = bb.add_func(func, "dsprune_group_dense")
        return bb.emit(relax.call_tir(gv, [x, relax.const(fmt.block_ptr),
                                           relax.const(fmt.group_col), relax.const(fmt.group_val)],
                                      out_ty=relax.TensorType((1, 24, 7, 7), "float32")))
    tvm.ir.assert_structural_equal(after, module(body, (1, 16, 7, 7)))
    assert records[0].op == "pw" and records[0].decision == "sparse"


def test_pruned_matmul_becomes_the_group_kernel():
    w = pruned(10, 32, seed=1)                     # W[F, K]; the graph holds W.T [K, F]
    before = module(lambda bb, x: bb.emit(relax.op.matmul(x, relax.const(np.ascontiguousarray(w.T)))), (2, 32))
    after = SparsifyDense(COST, "on")(before).without_attr(RECORDS_ATTR).without_attr(NAMES_ATTR)
    fmt = group_format.choose_shape(w, COST.group_shapes, COST.group_fixed, compact=False)
    func = group_dense.build_cpu(2, 32, 10, (), fmt.gr, fmt.gc, fmt.group_val.shape[0], fmt.num_blocks, 1, 8)
    func = func.with_attr("op_pattern", OUT_EWISE_FUSABLE).with_attr("dsprune.layer", "fc_1")

    def body(bb, x):
        gv = bb.add_func(func, "dsprune_group_dense")
        return bb.emit(relax.call_tir(gv, [x, relax.const(fmt.block_ptr),
                                           relax.const(fmt.group_col), relax.const(fmt.group_val)],
                                      out_ty=relax.TensorType((2, 10), "float32")))
    tvm.ir.assert_structural_equal(after, module(body, (2, 32)))


@pytest.mark.parametrize("kernel,strides,reason", [(3, 1, "only 1x1"), (1, 2, "strided")])
def test_convs_the_pass_cannot_handle_stay_dense_and_are_reported(kernel, strides, reason):
    w = pruned(8, 4 * kernel * kernel).reshape(8, 4, kernel, kernel)
    before = module(lambda bb, x: bb.emit(relax.op.nn.conv2d(x, relax.const(w), strides=strides,
                                                             padding=kernel // 2)), (1, 4, 8, 8))
    after = SparsifyDense(COST, "on")(before)
    records, after = records_of(after), after.without_attr(RECORDS_ATTR).without_attr(NAMES_ATTR)
    tvm.ir.assert_structural_equal(after, before)
    assert records[0].decision == "dense" and reason in records[0].reason


def test_auto_keeps_a_layer_dense_where_the_cost_model_says_dense_wins():
    w = pruned(24, 16, keep=0.9)
    before = module(lambda bb, x: bb.emit(relax.op.nn.conv2d(x, relax.const(w.reshape(24, 16, 1, 1)))), (1, 16, 7, 7))
    after = SparsifyDense(COST, "auto")(before)
    records, after = records_of(after), after.without_attr(RECORDS_ATTR).without_attr(NAMES_ATTR)
    tvm.ir.assert_structural_equal(after, before)
    assert "cost model" in records[0].reason


def filter_pruned(f, k, keep_rows, seed=2):
    w = np.random.default_rng(seed).standard_normal((f, k)).astype("float32")
    w[np.setdiff1d(np.arange(f), keep_rows)] = 0
    return w


def test_auto_runs_a_filter_pruned_1x1_conv_densely_on_the_kept_filters():
    kept = np.array([0, 3, 4, 9])
    w = filter_pruned(12, 16, kept)
    before = module(lambda bb, x: bb.emit(relax.op.nn.conv2d(x, relax.const(w.reshape(12, 16, 1, 1)))), (1, 16, 7, 7))
    after = SparsifyDense(COST, "auto")(before)
    records, after = records_of(after), after.without_attr(RECORDS_ATTR).without_attr(NAMES_ATTR)
    pos = np.zeros(12, "int32")
    pos[kept] = np.arange(4)
    keep = np.isin(np.arange(12), kept).astype("float32")

    def body(bb, x):
        y = bb.emit(relax.op.nn.conv2d(x, relax.const(w[kept].reshape(4, 16, 1, 1))))
        gv = bb.add_func(row_scatter.build([1, 4, 7, 7], 12), "dsprune_row_scatter")
        return bb.emit(relax.call_tir(gv, [y, relax.const(pos), relax.const(keep)],
                                      out_ty=relax.TensorType((1, 12, 7, 7), "float32")))
    tvm.ir.assert_structural_equal(after, module(body, (1, 16, 7, 7)))
    assert records[0].decision == "compact" and "4/12 filters, 16/16 input channels kept" in records[0].format


def test_auto_runs_a_filter_pruned_matmul_on_the_kept_columns_and_matches_numpy():
    kept = np.array([1, 2, 7])
    w = filter_pruned(8, 32, kept, seed=3)         # W[F, K]; the graph holds W.T [K, F]
    before = module(lambda bb, x: bb.emit(relax.op.matmul(x, relax.const(np.ascontiguousarray(w.T)))), (2, 32))
    after = SparsifyDense(COST, "auto")(before)
    records, after = records_of(after), after.without_attr(RECORDS_ATTR).without_attr(NAMES_ATTR)
    assert records[0].decision == "compact"
    x = np.random.default_rng(4).standard_normal((2, 32)).astype("float32")
    ex = tvm.compile(after, "llvm")
    y = relax.VirtualMachine(ex, tvm.cpu())["main"](tvm.runtime.tensor(x)).numpy()
    np.testing.assert_allclose(y, x @ w.T, rtol=1e-5, atol=1e-5)


def test_auto_runs_a_layer_with_empty_columns_on_the_kept_input_channels():
    cols = np.array([1, 2, 5, 8, 13])
    w = np.zeros((12, 16), "float32")
    w[:, cols] = np.random.default_rng(5).standard_normal((12, len(cols)))
    before = module(lambda bb, x: bb.emit(relax.op.nn.conv2d(x, relax.const(w.reshape(12, 16, 1, 1)))), (1, 16, 7, 7))
    after = SparsifyDense(COST, "auto")(before)
    records, after = records_of(after), after.without_attr(RECORDS_ATTR).without_attr(NAMES_ATTR)

    def body(bb, x):
        kept = bb.emit(relax.op.take(x, relax.const(cols.astype("int32")), axis=1, mode="clip"))
        return bb.emit(relax.op.nn.conv2d(kept, relax.const(np.ascontiguousarray(w[:, cols]).reshape(12, 5, 1, 1))))
    tvm.ir.assert_structural_equal(after, module(body, (1, 16, 7, 7)))
    assert records[0].decision == "compact" and "12/12 filters, 5/16 input channels kept" in records[0].format
    x = np.random.default_rng(6).standard_normal((1, 16, 7, 7)).astype("float32")
    y = relax.VirtualMachine(tvm.compile(after, "llvm"), tvm.cpu())["main"](tvm.runtime.tensor(x)).numpy()
    np.testing.assert_allclose(y, np.einsum("fk,nkhw->nfhw", w, x), rtol=1e-5, atol=1e-5)


def test_on_mode_keeps_the_group_kernel_for_filter_pruned_layers():
    w = filter_pruned(12, 16, np.array([0, 3, 4, 9]))
    before = module(lambda bb, x: bb.emit(relax.op.nn.conv2d(x, relax.const(w.reshape(12, 16, 1, 1)))), (1, 16, 7, 7))
    records = records_of(SparsifyDense(COST, "on")(before))
    assert records[0].decision == "sparse" and "empty rows not computed" in records[0].format
