"""A rule of ours that raises is a visible warning (an error under DSPRUNE_STRICT_SCHEDULES=1);
TVM's own rules may decline by raising; an interrupt goes through either guard."""
import logging
import os
import signal

import pytest
import tvm
from tvm import te
from tvm.s_tir import dlight as dl

from tvm_dsprune import interrupts
from tvm_dsprune.schedules.cpu.fallback import Fallback
from tvm_dsprune.schedules.rule import Rule, guarded


def scale_func():
    a = te.placeholder((64, 64), name="A")
    b = te.compute((64, 64), lambda i, j: a[i, j] * 2.0, name="B")
    return te.create_prim_func([a, b])


class Raising(Rule):
    name = "test.raising"

    def __init__(self, error):
        super().__init__()
        self.error = error

    def schedule(self, sch, block, target, tunable):
        raise self.error


TARGET = tvm.target.Target({"kind": "llvm"})


def test_a_failing_rule_warns_and_the_next_rule_schedules(monkeypatch, caplog):
    monkeypatch.setenv("DSPRUNE_STRICT_SCHEDULES", "0")
    with caplog.at_level(logging.WARNING, logger="tvm_dsprune.schedules"), TARGET:
        mod = dl.ApplyDefaultSchedule(Raising(ValueError("a bug in our rule")), Fallback())(
            tvm.IRModule({"main": scale_func()}))
    assert any(r.levelno == logging.WARNING and "test.raising failed" in r.getMessage()
               and "a bug in our rule" in r.getMessage() for r in caplog.records)
    assert mod["main"].attrs["tirx.is_scheduled"]


def test_a_failing_rule_is_an_error_when_strict(monkeypatch):
    monkeypatch.setenv("DSPRUNE_STRICT_SCHEDULES", "1")
    with pytest.raises(ValueError, match="a bug in our rule"):
        Raising(ValueError("a bug in our rule")).apply(scale_func(), TARGET, False)


@pytest.mark.parametrize("error", [KeyboardInterrupt(), RuntimeError("TVMError: KeyboardInterrupt")],
                         ids=["interrupt", "interrupt wrapped by TVM"])
def test_an_interrupt_goes_through_our_rules_and_tvms(error, monkeypatch):
    monkeypatch.setenv("DSPRUNE_STRICT_SCHEDULES", "0")
    with pytest.raises(KeyboardInterrupt):
        Raising(error).apply(scale_func(), TARGET, False)
    (tvm_rule,) = guarded([Raising(error)])
    with pytest.raises(KeyboardInterrupt):
        tvm_rule.apply(scale_func(), TARGET, False)


def test_tvms_own_rule_declines_by_raising():
    (tvm_rule,) = guarded([Raising(AssertionError("does not fit"))])
    assert tvm_rule.apply(scale_func(), TARGET, False) is None


def test_a_real_sigint_inside_a_pass_is_recognised(monkeypatch):
    """TVM turns a KeyboardInterrupt raised inside a pass into a bare RuntimeError; under the
    CLI's handler the interrupt is still known for what it is."""
    monkeypatch.setenv("DSPRUNE_STRICT_SCHEDULES", "0")

    class Interrupted(Rule):
        name = "test.sigint"

        def schedule(self, sch, block, target, tunable):
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(1000):
                pass
            return sch

    with interrupts.handling():
        with pytest.raises((KeyboardInterrupt, RuntimeError)) as info, TARGET:
            dl.ApplyDefaultSchedule(Interrupted(), Fallback())(tvm.IRModule({"main": scale_func()}))
        assert interrupts.interrupted(info.value)
    assert not interrupts.interrupted()
