"""Helpers the target modules share to write schedule rules.

Nothing here imports TVM at module level: target modules must stay importable by the mask step.
A rule is a plain function `apply(func, target, tunable) -> Schedule | None` (dlight's
contract); `as_dlight_rules` wraps a list of them when compiling.
"""
from __future__ import annotations

import logging
from typing import Callable

log = logging.getLogger("tvm_dsprune.schedules")


def as_dlight_rules(named_rules: list[tuple[str, Callable]]) -> list:
    """Wrap (name, apply) pairs as dlight ScheduleRules. A rule that raises is logged and
    treated as not applicable, so the next rule (or dlight's defaults) gets the function."""
    from tvm.s_tir.dlight.base import ScheduleRule

    import tvm

    out = []
    for name, fn in named_rules:
        def guarded(func, target, tunable, _fn=fn, _name=name):
            # A schedule can mutate nodes it shares with `func` in place; a rule that fails
            # half-way would hand the next rule a corrupted function. Work on a copy.
            func = tvm.ir.load_json(tvm.ir.save_json(func))
            try:
                return _fn(func, target, tunable)
            except Exception as err:  # noqa: BLE001 - a rule that cannot apply yields to the next
                log.debug("schedule rule %s did not apply: %s", _name, err)
                return None
        out.append(ScheduleRule.from_callable(name)(guarded))
    return out


def guarded(rules: list) -> list:
    """TVM's own dlight rules, wrapped so that one that raises declines instead of failing
    the build (dlight's CPU analysis asserts on some fused functions)."""
    from tvm.s_tir.dlight.base import ScheduleRule

    out = []
    for rule in rules:
        def apply(func, target, tunable, _rule=rule):
            import tvm

            func = tvm.ir.load_json(tvm.ir.save_json(func))
            try:
                return _rule.apply(func, target, tunable)
            except Exception as err:  # noqa: BLE001
                log.debug("dlight rule %s did not apply: %s", type(_rule).__name__, err)
                return None
        out.append(ScheduleRule.from_callable(type(rule).__name__)(apply))
    return out


def block_named(sch, name: str):
    """The block called `name` in the schedule's function, or None."""
    try:
        return sch.get_sblock(name)
    except Exception:  # noqa: BLE001 - get_sblock raises when absent
        return None


def child_blocks(sch) -> list:
    return list(sch.get_child_blocks(sch.get_sblock("root")))


def fold_epilogue(sch, producer):
    """Collapse the elementwise blocks after `producer` into the last one; return it (or None).

    FuseOps puts the epilogue (bias, folded BN, activation, residual add) after the operator as
    a chain of blocks, and some activations make it a DAG: SiLU reads its input twice
    (x * sigmoid(x)). Every block between the producer and the function's last block is inlined
    forward (compute_inline handles any number of readers), leaving one tail block to place.
    """
    blocks = child_blocks(sch)
    names = [sch.get(b).name_hint for b in blocks]
    start = names.index(sch.get(producer).name_hint) + 1
    after = blocks[start:]
    if not after:
        return None
    for blk in after[:-1]:
        try:
            sch.compute_inline(blk)
        except Exception:  # noqa: BLE001 - a block that cannot inline stays
            pass
    return child_blocks(sch)[-1] if child_blocks(sch)[-1] is not None else None


def inline_consumers(sch, block) -> None:
    """Fold the whole epilogue into `block`'s stores (an exact-shape output block): collapse it
    to one tail block, then reverse-inline that tail. A tail that cannot inline (a broadcast to
    a larger shape) stays; the rules place or bind it."""
    tail = fold_epilogue(sch, block)
    if tail is None or sch.get(tail).name_hint == sch.get(block).name_hint:
        return
    try:
        sch.reverse_compute_inline(tail)
    except Exception:  # noqa: BLE001
        return


def largest_divisor(n: int, limit: int, multiple_of: int = 1) -> int:
    """The largest divisor of n not above `limit` that is a multiple of `multiple_of` (or 1)."""
    for d in range(min(n, limit), 0, -1):
        if n % d == 0 and d % multiple_of == 0:
            return d
    return 1


def loop_extent(sch, loop) -> int:
    return int(sch.get(loop).extent)


def is_op(func, op: str) -> bool:
    attrs = func.attrs
    return attrs is not None and "dsprune.op" in attrs and str(attrs["dsprune.op"]) == op


def written_shape(sch, block) -> list[int]:
    """Shape of the first buffer `block` writes (TVM 0.27: a region's buffer is `.source`)."""
    region = sch.get(block).writes[0]
    buf = region.source if hasattr(region, "source") else region.buffer
    return [int(d) for d in buf.shape]
