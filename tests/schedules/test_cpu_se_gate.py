"""A squeeze-excite gate (a per-channel sigmoid scaling a feature map) is computed once per
channel: the 1x1 conv rule folds the gate's bias and sigmoid into the conv's stores before the
broadcast multiply, and the fallback rule keeps a small producer of a broadcast apart; with the
sigmoid inlined into the multiply, its polynomial ran once per pixel. Numerics against
onnxruntime and numpy."""
import numpy as np
from onnx import TensorProto, helper, numpy_helper

from tvm_dsprune import targets

EXP_CLAMP = "1.4426950"       # 1 / ln2, a constant of the fast exp: where it appears, exp runs


def block_text(script: str, name: str) -> str:
    """The text of the block whose name starts with `name` (te may add a suffix)."""
    start = script.index(f'sblock("{name}')
    nxt = script.find("sblock(", start + 1)
    return script[start:nxt if nxt > 0 else len(script)]


def se_model(c=32, squeeze=8, hw=14):
    rng = np.random.default_rng(0)
    w1 = (rng.standard_normal((squeeze, c, 1, 1)) * 0.3).astype(np.float32)
    w2 = (rng.standard_normal((c, squeeze, 1, 1)) * 0.3).astype(np.float32)
    b2 = rng.standard_normal(c).astype(np.float32)
    nodes = [helper.make_node("GlobalAveragePool", ["x"], ["m"]),
             helper.make_node("Conv", ["m", "w1"], ["s1"]), helper.make_node("Relu", ["s1"], ["r"]),
             helper.make_node("Conv", ["r", "w2", "b2"], ["s2"]), helper.make_node("Sigmoid", ["s2"], ["g"]),
             helper.make_node("Mul", ["x", "g"], ["y"])]
    g = helper.make_graph(nodes, "se", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, c, hw, hw])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, c, hw, hw])],
                          [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2"),
                           numpy_helper.from_array(b2, "b2")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    return m


def test_pointwise_gate_is_one_sigmoid_per_channel(tmp_path):
    from conftest import run_ort
    from tvm_dsprune.build.compile import compile as compile_model
    from tvm_dsprune.relax.lowering import lower
    from tvm_dsprune.runtime.session import LoadedModel

    model = se_model()
    lw = lower(model, "llvm", stop_after="schedule")
    gate = next(gv for gv in lw.mod.get_global_vars() if "sigmoid" in gv.name_hint and "multiply" in gv.name_hint)
    script = lw.mod[gate].script()
    assert EXP_CLAMP in script and EXP_CLAMP not in block_text(script, "T_multiply")
    onnx_path, pkg = tmp_path / "se.onnx", tmp_path / "se.tar"
    onnx_path.write_bytes(model.SerializeToString())
    compile_model(onnx_path, "llvm", pkg, tuning_records=False)
    x = np.random.default_rng(2).standard_normal((1, 32, 14, 14)).astype(np.float32)
    np.testing.assert_allclose(LoadedModel(pkg)({"x": x})["y"], run_ort(onnx_path, x), rtol=1e-4, atol=1e-5)


def test_fallback_keeps_a_broadcast_source_apart():
    import tvm
    from tvm import te, tirx, topi

    from tvm_dsprune.schedules.cpu.fallback import Fallback

    v = te.placeholder((1, 40, 1, 1), "float32", name="v")
    x = te.placeholder((1, 40, 28, 28), "float32", name="x")
    gate = te.compute(v.shape, lambda *i: tirx.const(1.0, "float32") / (tirx.const(1.0, "float32") + topi.fast_exp(-v)(*i)),
                      name="gate")
    y = te.compute(x.shape, lambda n, c, h, w: x[n, c, h, w] * gate[n, c, 0, 0], name="T_multiply")
    func = te.create_prim_func([v, x, y]).with_attr("global_symbol", "main")
    target = targets.resolve("llvm").tvm()
    sch = Fallback().apply(func, target, False)
    script = sch.mod.script()
    assert EXP_CLAMP not in block_text(script, "T_multiply")
    with target:
        ex = tvm.compile(sch.mod, target=target)
    rng = np.random.default_rng(0)
    vs, xs = rng.standard_normal((1, 40, 1, 1)).astype(np.float32), rng.standard_normal((1, 40, 28, 28)).astype(np.float32)
    out = tvm.runtime.tensor(np.zeros((1, 40, 28, 28), np.float32))
    ex.mod["main"](tvm.runtime.tensor(vs), tvm.runtime.tensor(xs), out)
    np.testing.assert_allclose(out.numpy(), xs / (1 + np.exp(-vs)), rtol=1e-5, atol=1e-6)
