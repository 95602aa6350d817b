"""MetaSchedule prints every design space it tunes as Python. A rule whose trace cannot print
(TVM 0.27 cannot print DecomposePadding, which the CPU conv rule uses to stage a padded input)
must not become the space: the task takes MetaSchedule's own space instead. (The tune tests
tune the tiny model, whose first conv is such a function, through the real scheduler.)"""
import pytest
import tvm
from tvm import te, topi

from tvm_dsprune import targets
from tvm_dsprune.tuning import space
from tvm_dsprune.tuning.tasks import TuningTask


def first_conv():
    x = te.placeholder((1, 3, 32, 32), name="x")
    w = te.placeholder((8, 3, 3, 3), name="w")
    y = topi.clip(topi.nn.conv2d_nchw(x, w, 2, 1, 1), 0.0, 6.0)
    return te.create_prim_func([x, w, y]).with_attr("global_symbol", "main")


def _task_and_sample():
    target = targets.resolve("llvm")
    tvm_target = target.tvm()
    task = TuningTask("conv", tvm.IRModule({"main": first_conv()}), 1, ["conv"])
    rule, _ = space.collection_rule(task.func, tvm_target, target.rules())
    assert rule is not None, "the CPU conv rule schedules a first conv"
    return target, task, space.sample(rule, task.func, tvm_target, True)


def test_trace_with_decompose_padding_does_not_print_in_tvm_027():
    _, _, sample = _task_and_sample()
    kinds = [inst.kind.name for inst in sample.trace.insts]
    assert "DecomposePadding" in kinds
    assert not space.prints(sample)


@pytest.mark.parametrize("printable,kind", [(True, "collection"), (False, "metaschedule")])
def test_the_rule_space_is_chosen_only_when_it_prints(monkeypatch, printable, kind):
    target, task, _ = _task_and_sample()
    monkeypatch.setattr(space, "prints", lambda sch: printable)
    assert space.choose(task, target.tvm(), target.rules()).kind == kind
