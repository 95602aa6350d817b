"""The design space of a tuning task: the schedule collection's rule, or MetaSchedule's own.

The collection's rules are tried in order, as a build tries them; the first that applies to the
function is its rule. When that rule is tunable (called with tunable=True, its schedule samples
knobs with SampleCategorical) the rule is the space: MetaSchedule searches the rule's knobs.
Otherwise the space is MetaSchedule's default for the target (post-order-apply of the target's
schedule rules: multi-level tiling, parallel / vectorize / unroll). A rule that gains knobs is
picked up as it is. `mode` forces either: "collection" (the rule, tunable or not; MetaSchedule's
space where no rule applies) or "metaschedule" (except for a function whose loops depend on
data, which MetaSchedule's space cannot schedule: its rule's schedule, fixed).

Either way the task's first trial measures the collection's own schedule (the rule called with
tunable=False, what a build without records runs): the database then holds the untuned
schedule's time too, and a build applies a tuned schedule only where one measured faster.
A sparse kernel (loops bounded by its format arrays) whose rule has no knobs is left at that
one measurement: MetaSchedule's own space cannot schedule data-dependent loops.

A schedule's trace must survive TVM's JSON round trip (a database stores it and replays it when
it is read), and a tunable rule's trace must also print as Python (MetaSchedule prints every
design space it tunes; TVM 0.27 cannot print DecomposePadding, which the CPU conv rule uses for
padded inputs): a rule whose trace does not is left out of the search, with a warning, and the
task searches MetaSchedule's space.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from ..errors import InputError
from ..interrupts import reraise_if_interrupt

log = logging.getLogger("tvm_dsprune.tuning")
SPACE_MODES = ("auto", "collection", "metaschedule")
SAMPLE_ATTEMPTS = 8


@dataclass
class Space:
    kind: str                              # "collection" or "metaschedule"
    rule: str | None                       # the collection's rule for the function, if any
    generator: object = field(repr=False)  # a MetaSchedule SpaceGenerator
    seed: object = field(default=None, repr=False)   # the collection's own schedule (measured first)
    search: bool = True                    # False: a space of one point, the seed is all there is

    @property
    def label(self) -> str:
        if self.kind == "metaschedule":
            return "MetaSchedule space"
        return f"{self.rule} knobs" if self.search else f"{self.rule} (fixed)"


def check_mode(mode: str) -> str:
    if mode not in SPACE_MODES:
        raise InputError(f"--space {mode!r}: choose {', '.join(SPACE_MODES)}")
    return mode


def is_tunable(sch) -> bool:
    return any(inst.kind.name == "SampleCategorical" for inst in sch.trace.insts)


def replays(sch, mod) -> bool:
    """True when `sch`'s trace, through JSON, rebuilds the same function on `mod`."""
    import tvm_ffi
    from tvm import s_tir

    try:
        fresh = s_tir.Schedule(mod)
        s_tir.Trace.apply_json_to_schedule(sch.trace.as_json(), fresh)
        return bool(tvm_ffi.structural_equal(fresh.mod["main"], sch.mod["main"]))
    except Exception as err:  # noqa: BLE001 - TVM raises its own errors for unreplayable traces
        reraise_if_interrupt(err)
        return False


def prints(sch) -> bool:
    """True when `sch`'s trace prints as Python, which MetaSchedule does for every design space
    it tunes (TVM 0.27 cannot print a DecomposePadding instruction)."""
    try:
        sch.trace.as_python()
        return True
    except Exception as err:  # noqa: BLE001 - TVM raises its own errors
        reraise_if_interrupt(err)
        return False


def has_dynamic_loops(func) -> bool:
    """True when a loop's extent depends on data (a sparse kernel's K loop): MetaSchedule's own
    space rejects every such schedule (its DisallowDynamicLoop postproc)."""
    import tvm_ffi
    from tvm import tirx

    found = []
    tvm_ffi.structural_walk(func.body, [(tirx.For, lambda f: found.append(f)
                                         if not isinstance(f.extent, tirx.IntImm) else None)])
    return bool(found)


def _rule_name(rule) -> str:
    return getattr(rule, "name", None) or type(rule).__name__


def collection_rule(func, tvm_target, rules):
    """(rule, its fixed schedule) for the first rule of the collection that applies, or (None, None)."""
    for rule in rules:
        sch = rule.apply(func, tvm_target, False)
        if sch is not None:
            return rule, sch
    return None, None


class _RuleFailures(logging.Handler):
    """Collects what a rule logs when it fails (outside strict mode it logs and declines)."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record) -> None:
        self.messages.append(record.getMessage())


_told: set[str] = set()        # rules whose failing knob values were reported in this process
_drawing = threading.Lock()   # MetaSchedule draws from several threads; the log capture is one at a time


def _tell_once(rule, what: str) -> None:
    name = _rule_name(rule)
    if name not in _told:
        _told.add(name)
        log.warning("schedule rule %s fails on some of its knob values (%s); those draws are skipped", name, what)


def sample(rule, func, tvm_target, tunable: bool = True, attempts: int = SAMPLE_ATTEMPTS):
    """`rule`'s schedule of `func`, or None. With tunable=True the knobs are drawn at random and
    a rule may fail on some of their values (a bug of the rule, reported once): a failed draw is
    drawn again, up to `attempts` times, so that one bad knob value does not cost the task its
    space."""
    with _drawing:
        return _sample(rule, func, tvm_target, tunable, attempts)


def _sample(rule, func, tvm_target, tunable: bool, attempts: int):
    rules_log = logging.getLogger("tvm_dsprune.schedules")
    for _ in range(attempts if tunable else 1):
        caught = _RuleFailures()
        rules_log.addHandler(caught)
        propagate, rules_log.propagate = rules_log.propagate, False
        try:
            out = rule.apply(func, tvm_target, tunable)
        except Exception as err:  # noqa: BLE001 - strict mode raises a rule's failure; here it is a bad draw
            reraise_if_interrupt(err)
            _tell_once(rule, f"{type(err).__name__}: {str(err).strip().splitlines()[-1] if str(err).strip() else ''}")
            continue
        finally:
            rules_log.removeHandler(caught)
            rules_log.propagate = propagate
        if caught.messages:
            _tell_once(rule, caught.messages[-1])
        if out is not None:
            return out
        if not caught.messages:
            return None               # the rule does not apply: drawing again changes nothing
    return None


def rule_space(rule, tvm_target, tunable: bool = True):
    """A MetaSchedule space generator over `rule`'s knobs (its schedule with tunable=True)."""
    from tvm.s_tir import meta_schedule as ms

    def space(sch):
        out = sample(rule, sch.mod["main"], tvm_target, tunable)
        if out is None and tunable:          # every draw failed: the rule's own schedule is the space
            out = sample(rule, sch.mod["main"], tvm_target, False)
        if out is None:
            raise ValueError(f"schedule rule {_rule_name(rule)} does not apply to this function")
        return [out]

    return ms.space_generator.ScheduleFn(space, sch_rules=[], postprocs=[], mutator_probs={})


def metaschedule_space():
    from tvm.s_tir import meta_schedule as ms

    return ms.space_generator.PostOrderApply()


def choose(task, tvm_target, rules, mode: str = "auto") -> Space:
    """The design space of `task` (tasks.TuningTask) for `tvm_target` and the collection's
    `rules` (targets.Target.rules())."""
    func = task.func
    rule, fixed = collection_rule(func, tvm_target, rules)
    seed = fixed if fixed is not None and replays(fixed, task.mod) else None
    if fixed is not None and seed is None:
        log.warning("%s: the schedule of rule %s does not replay from JSON; not measured as a baseline",
                    task.name, _rule_name(rule))
    if rule is not None and mode != "metaschedule":
        sample_sch = sample(rule, func, tvm_target, True)
        if sample_sch is not None and is_tunable(sample_sch):
            if replays(sample_sch, task.mod) and prints(sample_sch):
                return Space("collection", _rule_name(rule), rule_space(rule, tvm_target), seed)
            log.warning("%s: the design space of rule %s does not replay from JSON or print as "
                        "Python; MetaSchedule's space instead", task.name, _rule_name(rule))
    # MetaSchedule's space rejects data-dependent loops: such a function keeps its rule's schedule
    if rule is not None and (mode == "collection" or has_dynamic_loops(func)):
        return Space("collection", _rule_name(rule), rule_space(rule, tvm_target, False), seed, search=False)
    return Space("metaschedule", _rule_name(rule) if rule is not None else None, metaschedule_space(), seed)
