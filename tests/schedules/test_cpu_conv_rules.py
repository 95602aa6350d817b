"""The CPU rules for a detector's dense layers: kxk convs (dense_conv) and stride = kernel
ConvTransposes (the phase form, conv_transpose); each schedules its function (strict: a rule
that raises fails the test) and the result equals torch."""
import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from conftest import run_ort
from tvm_dsprune import targets
from tvm_dsprune.build.compile import compile
from tvm_dsprune.relax.lowering import lower
from tvm_dsprune.runtime.session import LoadedModel


def build_conv(cin, cout, k, stride, h, w, epilogue):
    import tvm
    from tvm import te, topi

    from tvm_dsprune.schedules.cpu.dense_conv import DenseConv

    x = te.placeholder((1, cin, h, w), name="x")
    wt = te.placeholder((cout, cin, k, k), name="w")
    b = te.placeholder((1, cout, 1, 1), name="b")
    y = topi.nn.conv2d_nchw(x, wt, stride, k // 2, 1)
    if epilogue:
        y = topi.nn.relu(topi.add(y, b))
    func = te.create_prim_func([x, wt, b, y])
    target = targets.resolve("llvm").tvm()
    sch = DenseConv().apply(func, target, False)
    assert sch is not None
    with target:
        return tvm.compile(sch.mod, target=target), [int(d) for d in y.shape]


@pytest.mark.parametrize("cin,cout,k,stride,h,w,epilogue", [
    (24, 24, 3, 1, 20, 40, True),       # whole vectors, two-row tiles
    (3, 8, 3, 2, 16, 64, True),         # the stem: stride 2, three input channels
    (12, 10, 5, 1, 13, 17, False),      # odd sizes: partial vectors, one-row tiles
    (20, 14, 1, 1, 10, 10, True),       # 1x1
    (3, 8, 3, 2, 15, 33, False),        # one channel block, unrolled taps, no epilogue, odd sizes
    (4, 6, 5, 1, 9, 11, True),          # one channel block of 100 taps (not unrolled)
    (16, 64, 3, 1, 4, 8, True),         # channel tiles outer (the weight outweighs the image)
    (3, 13, 3, 1, 7, 11, True),         # one channel block, 1 x 1 x 1 register tiles: no loop of the
                                        # epilogue's own to vectorise
])
def test_dense_conv_rule_equals_torch(cin, cout, k, stride, h, w, epilogue):
    import tvm

    ex, out_shape = build_conv(cin, cout, k, stride, h, w, epilogue)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, cin, h, w)).astype(np.float32)
    wt = rng.standard_normal((cout, cin, k, k)).astype(np.float32)
    b = rng.standard_normal((1, cout, 1, 1)).astype(np.float32)
    dev = tvm.cpu()
    out = tvm.runtime.tensor(np.zeros(out_shape, np.float32), dev)
    ex.mod["main"](*(tvm.runtime.tensor(a, dev) for a in (x, wt, b)), out)
    ref = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(wt), stride=stride, padding=k // 2)
    if epilogue:
        ref = torch.relu(ref + torch.from_numpy(b))
    np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=1e-4, atol=1e-4)


def conv_transpose_model(path, cin, cout, k, stride, pads, groups):
    rng = np.random.default_rng(1)
    w = rng.standard_normal((cin, cout // groups, k, k)).astype(np.float32) * 0.5
    stats = [rng.uniform(0.5, 1.5, cout), rng.uniform(-0.5, 0.5, cout), rng.uniform(-0.5, 0.5, cout),
             rng.uniform(0.5, 2.0, cout)]
    inits = [numpy_helper.from_array(w, "w"), numpy_helper.from_array(rng.standard_normal(cout).astype(np.float32), "b")]
    inits += [numpy_helper.from_array(s.astype(np.float32), n) for s, n in zip(stats, "gbmv")]
    nodes = [helper.make_node("ConvTranspose", ["x", "w", "b"], ["t"], name="up", kernel_shape=[k, k],
                              strides=[stride, stride], pads=[pads] * 4, group=groups),
             helper.make_node("BatchNormalization", ["t", "g", "b", "m", "v"], ["n"]),
             helper.make_node("Relu", ["n"], ["y"])]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, cin, 12, 20])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.save(m, str(path))
    return path


@pytest.mark.parametrize("cin,cout,k,stride,pads,groups,phase", [
    (16, 16, 2, 2, 0, 1, True),         # the DB head's upsampling
    (8, 1, 2, 2, 0, 1, True),           # ... down to one channel
    (8, 12, 3, 3, 0, 2, True),          # stride 3, grouped
    (8, 6, 4, 2, 1, 1, False),          # overlapping taps: TOPI's legalization
])
def test_conv_transpose_equals_onnxruntime(cin, cout, k, stride, pads, groups, phase, tmp_path):
    model = conv_transpose_model(tmp_path / "ct.onnx", cin, cout, k, stride, pads, groups)
    low = lower(model, "llvm", stop_after="fuse")
    scripts = [f.script() for _, f in low.mod.functions_items() if hasattr(f, "body")]
    assert any("conv2d_transpose_phase" in s for s in scripts) == phase
    result = compile(model, "llvm", tmp_path / "ct.tar")
    x = np.random.default_rng(2).standard_normal((1, cin, 12, 20)).astype(np.float32)
    y = LoadedModel(result.package)({"x": x})["y"]
    ref = run_ort(model, x)
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-5 * np.abs(ref).max())


@pytest.mark.parametrize("cin,cout,h,w,rows", [(3, 8, 16, 64, True), (24, 24, 20, 40, True), (16, 64, 4, 8, False)])
def test_task_order_reads_fewer_bytes(cin, cout, h, w, rows):
    """Row tiles outer for images larger than the weight's re-reads, channel tiles outer
    otherwise (the cases of the numeric test above take both orders)."""
    from tvm import te, topi
    from tvm_dsprune import targets
    from tvm_dsprune.schedules.cpu import dense_conv

    chosen = []
    original = dense_conv.rows_outer

    def record(*args):
        chosen.append(original(*args))
        return chosen[-1]

    x, wt = te.placeholder((1, cin, h, w)), te.placeholder((cout, cin, 3, 3))
    func = te.create_prim_func([x, wt, topi.nn.conv2d_nchw(x, wt, 1, 1, 1)])
    dense_conv.rows_outer, saved = record, dense_conv.rows_outer
    try:
        # an AVX2 CPU whatever the host: the tile sizes, so the bytes compared, follow the vector width
        avx2 = targets.resolve("llvm -mcpu=znver3 -num-cores=2").tvm()
        assert dense_conv.DenseConv().apply(func, avx2, False) is not None
    finally:
        dense_conv.rows_outer = saved
    assert chosen == [rows]
