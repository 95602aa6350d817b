"""The base class of the collection's schedule rules, and the guard around TVM's own rules.

A rule follows dlight's contract, `apply(func, target, tunable) -> Schedule | None`, and is a
dlight ScheduleRule, so `dlight.ApplyDefaultSchedule` tries the rules of a target in order on
every fused PrimFunc. The base class does what every rule of the collection starts with:

- gating: the rule applies only where the target has every key in `target_keys` ("cpu",
  "gpu"), to PrimFuncs;
- opening: a schedule on a copy of the function (a rule that fails half-way must not hand the
  next rule a function it mutated in place), and the anchor block: the first of `blocks`
  present (None: the rule looks for itself);
- failures: a rule of ours that raises is a bug. It is logged as a warning and the function
  goes to the next rule, or, under DSPRUNE_STRICT_SCHEDULES=1 (the tests set it), it is raised.
  An interrupt always goes through.

TVM's own dlight rules assert on some fused functions by design: `guarded` wraps those, and
only those, so that one that raises declines (at debug level) instead of failing the build.
"""
from __future__ import annotations

import logging
import os

import tvm
from tvm.s_tir import Schedule
from tvm.s_tir.dlight.base import ScheduleRule

from ..interrupts import reraise_if_interrupt
from .common import block_named

log = logging.getLogger("tvm_dsprune.schedules")


def strict() -> bool:
    return os.environ.get("DSPRUNE_STRICT_SCHEDULES", "") not in ("", "0")


def _copy(func):
    return tvm.ir.load_json(tvm.ir.save_json(func))


class Rule(ScheduleRule):
    """Subclasses set `name`, `target_keys`, `blocks` and implement `schedule`."""

    name = "rule"
    target_keys: tuple[str, ...] = ("cpu",)
    blocks: tuple[str, ...] | None = None

    def __init__(self, name: str | None = None, **options):
        if name:
            self.name = name
        self.options = options

    def is_target(self, target) -> bool:
        keys = {str(k) for k in target.keys}
        return all(k in keys for k in self.target_keys)

    def schedule(self, sch: Schedule, block, target, tunable: bool) -> Schedule | None:
        raise NotImplementedError

    def apply(self, func, target, tunable):
        if not isinstance(func, tvm.tirx.PrimFunc) or not self.is_target(target):
            return None
        sch = Schedule(_copy(func))
        block = None
        if self.blocks is not None:
            block = next((b for b in (block_named(sch, n) for n in self.blocks) if b is not None), None)
            if block is None:
                return None
        try:
            return self.schedule(sch, block, target, tunable)
        except Exception as err:  # noqa: BLE001 - see the module docstring
            reraise_if_interrupt(err)
            if strict():
                raise
            log.warning("schedule rule %s failed on a function (%s: %s); it gets the next rule",
                        self.name, type(err).__name__, str(err).strip().splitlines()[-1] if str(err).strip() else "")
            return None

    def __repr__(self) -> str:
        return f"<schedule rule {self.name}>"


def guarded(rules: list) -> list:
    """TVM's own dlight rules, each declining (None) where it raises."""
    out = []
    for rule in rules:
        def apply(func, target, tunable, _rule=rule):
            try:
                return _rule.apply(_copy(func), target, tunable)
            except Exception as err:  # noqa: BLE001 - TVM's rules assert on functions they do not fit
                reraise_if_interrupt(err)
                log.debug("dlight rule %s did not apply: %s", type(_rule).__name__, err)
                return None
        out.append(ScheduleRule.from_callable(type(rule).__name__)(apply))
    return out
