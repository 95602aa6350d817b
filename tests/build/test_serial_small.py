"""SerialSmallKernels: a kernel of a few thousand element stores is built without a parallel
launch; a larger one, and one whose loop trip counts depend on its data (a sparse kernel, a
while loop) or that calls other code, keep their threads; the model's numbers do not change."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import run_ort


def _parallel_launches(func, tir_pipeline: str) -> int:
    import tvm

    mod = tvm.IRModule({"k": func.with_attr("global_symbol", "k")})
    target = tvm.target.Target({"kind": "llvm"})
    with target:
        lib = tvm.compile(mod, target=target, tir_pipeline=tir_pipeline)
    return lib.mod.inspect_source("ll").count("load ptr, ptr @__TVMBackendParallelLaunch")


def _scaled_copy(rows: int, cols: int):
    """out[i, j] = 2 * x[i, j], rows parallel, columns vectorised: rows * cols element stores."""
    import tvm
    from tvm import te

    x = te.placeholder((rows, cols), "float32", name="x")
    out = te.compute((rows, cols), lambda i, j: x[i, j] * 2.0, name="out")
    func = te.create_prim_func([x, out])
    sch = tvm.s_tir.Schedule(func)
    i, j = sch.get_loops(sch.get_sblock("out"))
    sch.parallel(i)
    sch.vectorize(j)
    return sch.mod["main"]


def _row_walk(rows: int):
    """A data-dependent trip count (a sparse kernel's walk over its stored entries)."""
    from tvm.script import tirx as T

    @T.prim_func(s_tir=True)
    def walk(ptr: T.Buffer((rows + 1,), "int32"), val: T.Buffer((64,), "float32"), out: T.Buffer((rows,), "float32")):
        for i in T.parallel(rows):
            with T.sblock("row"):
                vi = T.axis.spatial(rows, i)
                out[vi] = T.float32(0)
                for k in range(ptr[vi], ptr[vi + 1]):
                    out[vi] = out[vi] + val[k]

    return walk


def _while_walk(rows: int):
    """A while loop in each parallel task: its trip count is known only at run time."""
    from tvm.script import tirx as T

    @T.prim_func
    def walk(n: T.Buffer((rows,), "int32"), out: T.Buffer((rows,), "float32")):
        for i in T.parallel(rows):
            k = T.alloc_buffer((1,), "int32", scope="local")
            k[0] = 0
            out[i] = T.float32(0)
            while k[0] < n[i]:
                out[i] = out[i] + T.float32(1)
                k[0] = k[0] + 1

    return walk


def _extern_calls(rows: int):
    """A call into other code in each parallel task (its work unknown to the pass)."""
    from tvm.script import tirx as T

    @T.prim_func
    def calls(x: T.Buffer((rows,), "float32"), out: T.Buffer((rows,), "float32")):
        for i in T.parallel(rows):
            T.evaluate(T.call_extern("int32", "abs", T.Cast("int32", i)))
            out[i] = x[i]

    return calls


def test_a_small_kernel_runs_serial():
    from tvm_dsprune.build import serial_small, tir_pipeline

    small = _scaled_copy(8, 16)                                    # 128 stores
    assert 128 < serial_small.THRESHOLD
    assert _parallel_launches(small, "default") == 1               # TVM's own lowering launches threads
    assert _parallel_launches(small, tir_pipeline.register()) == 0


def test_a_large_kernel_and_a_sparse_walk_keep_their_threads():
    from tvm_dsprune.build import serial_small, tir_pipeline

    rows = serial_small.THRESHOLD // 16 + 1
    assert _parallel_launches(_scaled_copy(rows, 16), tir_pipeline.register()) == 1
    assert _parallel_launches(_row_walk(4), tir_pipeline.register()) == 1
    assert _parallel_launches(_while_walk(4), tir_pipeline.register()) == 1
    assert _parallel_launches(_extern_calls(4), tir_pipeline.register()) == 1


def test_element_store_count():
    import tvm

    from tvm_dsprune.build.serial_small import element_stores

    lowered = tvm.tirx.transform.VectorizeLoop()(tvm.IRModule({"main": _lowered(_scaled_copy(3, 16))}))
    assert element_stores(lowered["main"].body) == 3 * 16


def _lowered(func):
    import tvm

    mod = tvm.IRModule({"main": func})
    with tvm.target.Target({"kind": "llvm"}):
        mod = tvm.s_tir.transform.LowerOpaqueBlock()(tvm.s_tir.transform.ConvertBlocksToOpaque()(
            tvm.s_tir.transform.LowerInitBlock()(mod)))
    return mod["main"]


def test_squeeze_excite_model_equals_onnxruntime(tmp_path):
    """A squeeze-excite block: its pooling and two tiny dense layers are the small kernels."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from tvm_dsprune.build.compile import compile
    from tvm_dsprune.runtime.session import LoadedModel

    rng = np.random.default_rng(3)
    c, r, hw = 24, 8, 14
    inits = [numpy_helper.from_array(a.astype(np.float32), n) for n, a in [
        ("w1", rng.standard_normal((r, c, 1, 1)) * 0.3), ("b1", rng.standard_normal(r) * 0.1),
        ("w2", rng.standard_normal((c, r, 1, 1)) * 0.3), ("b2", rng.standard_normal(c) * 0.1)]]
    nodes = [helper.make_node("GlobalAveragePool", ["x"], ["p"]),
             helper.make_node("Conv", ["p", "w1", "b1"], ["h"]),
             helper.make_node("Relu", ["h"], ["hr"]),
             helper.make_node("Conv", ["hr", "w2", "b2"], ["g"]),
             helper.make_node("HardSigmoid", ["g"], ["gs"]),
             helper.make_node("Mul", ["x", "gs"], ["y"])]
    graph = helper.make_graph(nodes, "se", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, c, hw, hw])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, c, hw, hw])], inits)
    path = tmp_path / "se.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    result = compile(path, "llvm", tmp_path / "se.tar")
    x = rng.standard_normal((1, c, hw, hw)).astype(np.float32)
    y = LoadedModel(result.package)({"x": x})["y"]
    ref = run_ort(path, x)
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-6 * np.abs(ref).max())


@pytest.mark.parametrize("threshold", [0, 10**9])
def test_the_threshold_decides(threshold, monkeypatch):
    from tvm_dsprune.build import serial_small, tir_pipeline

    monkeypatch.setattr(serial_small, "THRESHOLD", threshold)
    launches = _parallel_launches(_scaled_copy(8, 16), tir_pipeline.register())
    assert launches == (1 if threshold == 0 else 0)
