"""The CPU rule for sums over the innermost axes (row_reduction: a squeeze-excite block's global
mean) against numpy, on the shapes of real models and odd ones, and what it declines; then a
global average pool and a ReduceMean through the whole compile against onnxruntime."""
import numpy as np
import pytest

from tvm_dsprune import targets


def mean_func(shape, axes, op="sum", relu=False):
    """The PrimFunc FuseOps hands the rules for a mean of `shape` over `axes` (keepdims), of
    relu(x) with `relu` (an elementwise producer fused in)."""
    from tvm import te, tirx

    inp = x = te.placeholder(shape, "float32", name="x")
    if relu:
        x = te.compute(shape, lambda *i: tirx.max(inp[i], tirx.const(0.0, "float32")), name="relu")
    red = [te.reduce_axis((0, shape[a]), name=f"k{a}") for a in axes]
    count = float(np.prod([shape[a] for a in axes]))
    reducer = te.sum if op == "sum" else te.max

    def body(*idx):
        it = iter(red)
        full = [next(it) if a in axes else idx[a] for a in range(len(shape))]
        return reducer(x[tuple(full)], axis=red)

    out_shape = [1 if a in axes else d for a, d in enumerate(shape)]
    s = te.compute(out_shape, body, name="x_red")
    y = te.compute(out_shape, lambda *i: s[i] / tirx.const(count, "float32"), name="T_divide")
    return te.create_prim_func([inp, y]).with_attr("global_symbol", "main")


def scheduled(shape, axes, op="sum", tunable=False, seed=None, relu=False):
    from tvm import s_tir

    from tvm_dsprune.schedules.cpu.row_reduction import RowReduction

    func = mean_func(shape, axes, op, relu)
    target = targets.resolve("llvm").tvm()
    if seed is None:
        return RowReduction().apply(func, target, tunable)
    sch = s_tir.Schedule(func, seed=seed)
    return RowReduction().schedule(sch, None, target, True)


def run(sch, shape, axes, relu=False):
    import tvm

    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    ref = (np.maximum(x, 0) if relu else x).mean(axis=tuple(axes), keepdims=True)
    target = targets.resolve("llvm").tvm()
    with target:
        ex = tvm.compile(sch.mod, target=target)
    out_shape = [1 if a in axes else d for a, d in enumerate(shape)]
    out = tvm.runtime.tensor(np.zeros(out_shape, np.float32))
    ex.mod["main"](tvm.runtime.tensor(x), out)
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("shape", [
    (1, 240, 14, 14),        # MobileNet-V3 squeeze-excite: 14 partial sums of a 196-pixel row
    (1, 27, 7, 7),           # 7x7, odd channel count
    (1, 32, 112, 112),       # EfficientNet-B0's first: four vectors of partial sums
    (2, 5, 3, 11),           # batch 2, a 33-float row
    (1, 8, 1, 13),           # a prime row: 13 partial sums of one step each
])
def test_global_mean_equals_numpy(shape):
    sch = scheduled(shape, [2, 3])
    assert sch is not None
    run(sch, shape, [2, 3])


def test_mean_over_the_last_axis_only():
    sch = scheduled((1, 6, 10, 48), [3])
    assert sch is not None
    run(sch, (1, 6, 10, 48), [3])


def test_an_elementwise_producer_is_read_in_the_sums():
    sch = scheduled((1, 20, 12, 12), [2, 3], relu=True)
    assert sch is not None and "relu" not in sch.mod.script()
    run(sch, (1, 20, 12, 12), [2, 3], relu=True)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sampled_partial_sum_counts_equal_numpy(seed):
    run(scheduled((1, 24, 28, 28), [2, 3], seed=seed), (1, 24, 28, 28), [2, 3])


@pytest.mark.parametrize("shape,axes,op", [
    ((1, 16, 8, 8), [1], "sum"),            # the channels reduced: not the innermost axes
    ((1, 16, 8, 8), [2, 3], "max"),         # not a sum
    ((1, 16, 1, 1), [2, 3], "sum"),         # a one-float row: nothing to vectorise
])
def test_declines_what_is_not_a_row_sum(shape, axes, op):
    assert scheduled(shape, axes, op) is None


def test_partial_sums_follow_the_row_length():
    from tvm_dsprune.schedules.cpu.row_reduction import partial_sums

    assert partial_sums(12544, 16) == 64        # 112x112: four vectors
    assert partial_sums(784, 16) == 16          # 28x28: one
    assert partial_sums(196, 16) == 14          # 14x14: no whole vector divides the row
    assert partial_sums(49, 8) == 7


@pytest.mark.parametrize("op", ["GlobalAveragePool", "ReduceMean"])
def test_compiled_mean_equals_onnxruntime(op, tmp_path):
    from onnx import TensorProto, helper

    from conftest import run_ort
    from tvm_dsprune.build.compile import compile as compile_model
    from tvm_dsprune.runtime.session import LoadedModel

    attrs = {"axes": [2, 3], "keepdims": 1} if op == "ReduceMean" else {}
    g = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["r"]), helper.make_node(op, ["r"], ["y"], **attrs)], "m",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 37, 9, 9])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 37, 1, 1])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    x = np.random.default_rng(3).standard_normal((1, 37, 9, 9)).astype(np.float32)
    onnx_path, pkg = tmp_path / "mean.onnx", tmp_path / "mean.tar"
    onnx_path.write_bytes(m.SerializeToString())
    compile_model(onnx_path, "llvm", pkg, tuning_records=False)
    y = LoadedModel(pkg)({"x": x})["y"]
    np.testing.assert_allclose(y, run_ort(onnx_path, x), rtol=1e-5, atol=1e-6)
