"""Tuning measures what `compile` builds, on what the model computes: candidates are built with
the CPU targets' TIR pipeline (a depthwise plane on the task's stack, not a runtime workspace
call per channel), measured on the model's own constants (not MetaSchedule's fill of 1 to 10),
and reported by their fastest repeat."""
import os
import tempfile

import numpy as np
import pytest
import tvm
from tvm.s_tir import dlight as dl
from tvm.s_tir import meta_schedule as ms

from tvm_dsprune.relax.lowering import lower
from tvm_dsprune.relax.pipeline import schedule_rules
from tvm_dsprune.tuning.measure import Arguments, build_cpu, local_runner
from tvm_dsprune.tuning.tasks import extract


@pytest.fixture(scope="module")
def tiny_tasks(zoo_onnx):
    model = zoo_onnx("tiny")
    low = lower(model, "llvm", stop_after="fuse")
    return model, low, extract(low)


def _scheduled(task, tgt):
    with tgt.tvm():
        return dl.ApplyDefaultSchedule(*schedule_rules(tgt))(task.mod)


def test_candidates_are_built_with_the_compile_pipeline(tiny_tasks):
    _, low, tasks = tiny_tasks
    tgt = low.target
    plane = next(t for t in tasks if "depthwise" in t.name or "dw_planes" in t.name)
    mod = _scheduled(plane, tgt)
    ours = build_cpu(mod, tgt.tvm(), None).inspect_source("ll")
    tvms = tvm.tirx.build(mod, target=tgt.tvm()).inspect_source("ll")
    # TVM's default lowering allocates the per-channel plane through the runtime in every task
    assert "TVMBackendAllocWorkspace" in tvms
    assert "TVMBackendAllocWorkspace" not in ours


def test_every_task_is_measured_on_the_models_constants(tiny_tasks):
    _, low, tasks = tiny_tasks
    call_tir = tvm.ir.Op.get("relax.call_tir")
    calls = {}
    for block in low.mod["main"].body.blocks:
        for binding in block.bindings:
            v = binding.value
            if isinstance(v, tvm.relax.Call) and v.op.same_as(call_tir):
                calls.setdefault(v.args[0].name_hint, v)
    dense = [t for t in tasks if t.layers and not t.sparse]
    assert dense and all(t.arrays is not None for t in tasks if t.layers)
    for task in dense:
        infos = ms.arg_info.ArgInfo.from_prim_func(task.func)
        assert [tuple(a.shape) for a in task.arrays] == [tuple(int(d) for d in i.as_json()[2]) for i in infos]
        call = calls[task.name]
        for arg, array in zip(call.args[1].fields, task.arrays):
            if isinstance(arg, tvm.ir.Constant):        # the weights and biases of the model
                np.testing.assert_array_equal(arg.value.numpy().reshape(-1), array.reshape(-1))
        # the activation: unit-scale random values, not MetaSchedule's fill of 1 to 10
        x = task.arrays[0]
        assert not isinstance(call.args[1].fields[0], tvm.ir.Constant)
        assert x.min() < 0 < x.max() and np.abs(x).mean() < 2


def test_the_local_runner_reports_one_time_each_the_fastest(tiny_tasks):
    _, low, tasks = tiny_tasks
    tgt = low.target
    task = next(t for t in tasks if t.layers and not t.sparse)
    mod = _scheduled(task, tgt)
    lib = build_cpu(mod, tgt.tvm(), None)
    art = os.path.join(tempfile.mkdtemp(), "cand.so")
    lib.export_library(art)
    runner = local_runner(Arguments(arrays=task.arrays))
    infos = ms.arg_info.ArgInfo.from_prim_func(task.func)
    (future,) = runner.run([ms.runner.RunnerInput(art, "cpu", infos)])
    res = future.result()
    assert res.error_msg is None and len(res.run_secs) == 1 and float(res.run_secs[0]) > 0
