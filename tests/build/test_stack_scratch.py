"""StackScratch: a CPU kernel's per-task scratch planes get stack slots, not a runtime workspace
allocation per task; what must keep the workspace (over the budget; a register tile of several
vectors a row, which LLVM handles worse as a stack slot) keeps it."""
from __future__ import annotations

import re

import numpy as np
import pytest

from conftest import depthwise_relu6_onnx as dw_model, run_ort
from tvm_dsprune.build.compile import compile
from tvm_dsprune.runtime.session import LoadedModel


def kernel_ir(model, tir_pipeline: str) -> str:
    import dataclasses

    import tvm

    from tvm_dsprune import schedules
    from tvm_dsprune.relax.lowering import lower

    spec = schedules.lookup("llvm")
    planes = dataclasses.replace(spec, cost=dataclasses.replace(spec.cost, dw_planes_from=1))
    low = lower(model, planes, sparse="off", stop_after="schedule")
    name = next(g.name_hint for g in low.mod.get_global_vars() if "dw_planes" in g.name_hint)
    mod = tvm.IRModule({"k": low.mod[name].with_attr("global_symbol", "k")})
    with low.target.tvm():
        lib = tvm.compile(mod, target=low.target.tvm(), tir_pipeline=tir_pipeline)
    return lib.mod.inspect_source("ll")


def workspace_allocations(ir: str) -> list[int]:
    return [int(b) for b in re.findall(r"call ptr %\w+\(i32 1, i32 %\w+, i64 (\d+)", ir)]


@pytest.mark.parametrize("c,hw,stride", [(24, 28, 1), (16, 56, 2), (40, 14, 2)])
def test_plane_kernel_scratch_is_on_the_stack(tmp_path, c, hw, stride):
    from tvm_dsprune.build import tir_pipeline

    model = dw_model(tmp_path / "dw.onnx", c, hw, stride)
    assert workspace_allocations(kernel_ir(model, "default")), "TVM's own lowering: a padded plane per task"
    ir = kernel_ir(model, tir_pipeline.register())
    assert all(size < 1024 for size in workspace_allocations(ir)), "only register tiles are left"
    assert re.search(r"alloca \[\d+ x float\]", ir)


def test_a_plane_over_the_budget_keeps_the_workspace(tmp_path, monkeypatch):
    from tvm_dsprune.build import stack_scratch, tir_pipeline

    model = dw_model(tmp_path / "dw.onnx", 8, 28, 1)
    monkeypatch.setattr(stack_scratch, "PER_BUFFER", 1024)        # below one 28x28 padded plane
    sizes = workspace_allocations(kernel_ir(model, tir_pipeline.register()))
    assert sizes and max(sizes) > 1024               # the padded plane


@pytest.mark.parametrize("c,hw,stride,k", [(19, 28, 1, 3), (33, 30, 2, 3), (24, 14, 2, 5), (17, 112, 2, 3)])
def test_compiled_model_equals_onnxruntime(tmp_path, c, hw, stride, k):
    model = dw_model(tmp_path / "dw.onnx", c, hw, stride, k, seed=c)
    result = compile(model, "llvm", tmp_path / "dw.tar", sparse="off")
    x = np.random.default_rng(1).standard_normal((1, c, hw, hw)).astype(np.float32)
    y = LoadedModel(result.package)({"x": x})["z"]
    ref = run_ort(model, x)
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-5 * np.abs(ref).max())


def test_vector_dtype_buffers_count_every_lane():
    import tvm

    from tvm_dsprune.build.stack_scratch import constant_bytes

    assert constant_bytes(tvm.tirx.decl_buffer((16,), "float32x16")) == 1024
    assert constant_bytes(tvm.tirx.decl_buffer((3, 5), "float32")) == 60
