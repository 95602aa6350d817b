"""MetaSchedule prints every design space it tunes as Python. A rule whose trace cannot print
(TVM 0.27 cannot print DecomposePadding, which the CPU conv rule uses to stage a padded input)
must not become the space: the task takes MetaSchedule's own space instead. (The tune tests
tune the tiny model, whose first conv is such a function, through the real scheduler.)"""
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


def test_a_space_that_cannot_print_is_not_chosen():
    target = targets.resolve("llvm")
    tvm_target = target.tvm()
    task = TuningTask("conv", tvm.IRModule({"main": first_conv()}), 1, ["conv"])
    rule, _ = space.collection_rule(task.func, tvm_target, target.rules())
    assert rule is not None, "the CPU conv rule schedules a first conv"
    sample = space.sample(rule, task.func, tvm_target, True)
    chosen = space.choose(task, tvm_target, target.rules())
    if space.prints(sample):
        assert chosen.kind == "collection"
    else:
        assert chosen.kind == "metaschedule"
