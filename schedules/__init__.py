"""The schedule collection: a registry of targets, each with its tile geometry and schedules.

A target family is one folder of this package (cpu/, cuda/, mali/; gpu/ holds the rules the GPU
families share), one rule per module, and its `__init__` registers the family's default target
at import. A GPU is one more module that calls `register()` (cuda/jetson_orin.py,
mali/mali_g78.py), here or in another package that names it under the `tvm_dsprune.schedules`
entry-point group:

    [project.entry-points."tvm_dsprune.schedules"]
    my-gpu = "my_package.my_gpu"        # a module that calls tvm_dsprune.schedules.register(...)

Lookups import TVM only when a schedule is asked for, so the mask step stays TVM-free.
"""
from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass, field
from importlib import metadata
from typing import Callable

from .cost import SparseCost
from .geometry import TileGeometry

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "tvm_dsprune.schedules"
BUILTIN_MODULES = ("cpu", "cpu.aarch64", "cuda", "cuda.jetson_orin", "mali", "mali.mali_g78")


@dataclass(frozen=True)
class TargetSpec:
    """One target the collection knows.

    name:     short name used by --target (`cuda`, `mali`, `llvm`, `jetson-orin`, ...).
    target:   the TVM target as a JSON dict (TVM 0.27 accepts no CLI strings).
    family:   `cuda`, `opencl` or `cpu`: which schedule rules and runtime device apply.
    geometry: the tiles its sparse kernels are written for (read by the mask step too).
    cost:     relative costs that decide per layer whether sparse beats dense.
    rules:    a callable returning the dlight-style schedule rules for this target, tried in
              order on every fused PrimFunc; it imports TVM, so it runs only when compiling.
    """

    name: str
    target: dict
    family: str
    geometry: TileGeometry
    description: str = ""
    aliases: tuple[str, ...] = ()
    cost: SparseCost = SparseCost()
    rules: Callable[[], list] | None = field(default=None, compare=False)
    host: dict | None = None


_REGISTRY: dict[str, TargetSpec] = {}
_ALIASES: dict[str, str] = {}
_loaded = False


def register(spec: TargetSpec, override: bool = False) -> TargetSpec:
    """Add a target; a name clash is an error unless `override` is set."""
    for key in (spec.name, *spec.aliases):
        owner = _ALIASES.get(key)
        if owner is not None and owner != spec.name and not override:
            raise ValueError(f"target name {key!r} is already registered by {owner!r}")
    if spec.name in _REGISTRY and not override:
        raise ValueError(f"target {spec.name!r} is already registered")
    _REGISTRY[spec.name] = spec
    for key in (spec.name, *spec.aliases):
        _ALIASES[key] = spec.name
    return spec


def _load() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for mod in BUILTIN_MODULES:
        importlib.import_module(f"{__name__}.{mod}")
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            ep.load()
        except Exception as err:  # a broken plugin must not break the built-in targets
            log.warning("schedule plugin %s (%s) failed to load: %s", ep.name, ep.value, err)


def names() -> list[str]:
    _load()
    return sorted(_REGISTRY)


def lookup(name: str) -> TargetSpec | None:
    """The spec registered under `name` (or one of its aliases), else None."""
    _load()
    key = _ALIASES.get(name.lower()) or _ALIASES.get(name)
    return _REGISTRY.get(key) if key else None


def all_specs() -> list[TargetSpec]:
    _load()
    return [_REGISTRY[n] for n in sorted(_REGISTRY)]
