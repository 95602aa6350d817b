"""Resolve --target: a short name from the schedule collection or a TVM target JSON dict.

No TVM import here: the mask step reads only the geometry.
"""
from __future__ import annotations

import json
from dataclasses import replace

from . import schedules
from .errors import InputError

KIND_FAMILY = {"cuda": "cuda", "nvptx": "cuda", "opencl": "opencl", "llvm": "cpu", "c": "cpu"}


def resolve(target) -> schedules.TargetSpec:
    """A TargetSpec for a name (`cuda`, `mali`, `llvm`, ...), a dict, or a JSON dict string."""
    if isinstance(target, schedules.TargetSpec):
        return target
    if isinstance(target, str) and target.strip().startswith("{"):
        try:
            target = json.loads(target)
        except json.JSONDecodeError as err:
            raise InputError(f"target {target!r} is not valid JSON: {err}") from None
    if isinstance(target, dict):
        kind = target.get("kind")
        if kind not in KIND_FAMILY:
            raise InputError(f"target kind {kind!r} has no schedules here; kinds with schedules: "
                             f"{', '.join(sorted(KIND_FAMILY))}")
        base = schedules.family_default(KIND_FAMILY[kind])
        return replace(base, name=json.dumps(target, sort_keys=True), target=dict(target))
    if not isinstance(target, str):
        raise InputError(f"target must be a name or a JSON dict, got {type(target).__name__}")
    spec = schedules.lookup(target.strip())
    if spec is None:
        raise InputError(f"unknown target {target!r}; known targets: {', '.join(schedules.names())} "
                         "(or a TVM target JSON dict such as '{\"kind\": \"cuda\", \"arch\": \"sm_87\"}')")
    return spec
