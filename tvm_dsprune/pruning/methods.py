"""Pruning methods: spec parsing and the op-kind -> method registry.

A spec is `name:ratio` (`dcp-bh:0.8`, `filter-l2:0.5`, `group-optimal:0.9`), `nm:N:M` for n:m
sparsity, or `dense`. Each method declares the layer kinds it applies to and computes a mask
for one weight; methods that look across layers (DEPrune-BH's HSR) add a joint step.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..errors import InputError
from . import dcp, groups, nm, structured, tile_aware
from .layers import Layer

MATRIX_KINDS = ("pw", "conv", "fc")


class LayerRefused(Exception):
    """A method cannot take this layer (its weight is too small for the method's unit, ...).
    The mask step keeps the layer dense and reports why; the rest of the model is pruned."""


@dataclass(frozen=True)
class MethodSpec:
    name: str
    ratio: float                     # target pruning ratio of the layer
    text: str
    n: int = 0                       # n:m only
    m: int = 0
    group: tuple[int, int] | None = None   # group methods; None = the target's geometry
    balanced: bool = False

    @property
    def is_dense(self) -> bool:
        return self.name == "dense"


@dataclass(frozen=True)
class Context:
    """What a method may read besides the weight: the layer and the target's tile geometry
    (a schedules.geometry.TileGeometry)."""
    layer: Layer
    geometry: object


@dataclass(frozen=True)
class Method:
    name: str
    kinds: tuple[str, ...]
    fn: Callable[[np.ndarray, MethodSpec, Context], np.ndarray]
    summary: str
    joint: str = ""                  # name of a cross-layer step run after the per-layer masks
    aliases: tuple[str, ...] = field(default=())


REGISTRY: dict[str, Method] = {}


def register(method: Method) -> Method:
    for key in (method.name, *method.aliases):
        REGISTRY[key] = method
    return method


def _dcp(w, spec, ctx):
    return dcp.dcp_mask(w, spec.ratio)


def _bwt(w, spec, ctx):
    return dcp.bwt_mask(w, spec.ratio, ctx.geometry.dr_group)


def _channel(norm):
    return lambda w, spec, ctx: structured.channel_mask(w, spec.ratio, norm)


def _filter(norm):
    return lambda w, spec, ctx: ctx.layer.from_matrix(
        structured.row_mask(ctx.layer.matrix(w), spec.ratio, norm))


def _nm(w, spec, ctx):
    return ctx.layer.from_matrix(nm.nm_mask(ctx.layer.matrix(w), spec.n, spec.m))


def _group(selection):
    def fn(w, spec, ctx):
        shape = spec.group or tuple(ctx.geometry.group)
        mat = ctx.layer.matrix(w)
        if shape[0] > mat.shape[0] or shape[1] > mat.shape[1]:
            raise LayerRefused(f"group {shape[0]}x{shape[1]} does not fit its {mat.shape[0]}x{mat.shape[1]} "
                               f"weight matrix: kept dense")
        return ctx.layer.from_matrix(groups.group_mask(mat, spec.ratio, shape, selection, spec.balanced))
    return fn


def _tile(level):
    def fn(w, spec, ctx):
        rows = ctx.geometry.thread_rows if level == "thread" else ctx.geometry.workgroup_rows
        return ctx.layer.from_matrix(tile_aware.tile_unit_mask(ctx.layer.matrix(w), spec.ratio, rows))
    return fn


ALL = ("dw",) + MATRIX_KINDS
for _m in [
    Method("dcp", ALL, _dcp, "DEPrune DCP: per-layer magnitude threshold (on DW: in DR form)"),
    Method("magnitude", ALL, _dcp, "unstructured magnitude, per-layer threshold (same masks as dcp)"),
    Method("dcp-b", ("dw",), _bwt, "DEPrune-B: DCP with balanced workload tuning (equal ratio per sub-GEMM)"),
    Method("dcp-bh", ("dw",), _bwt, "DEPrune-BH: DCP-B plus HSR tile alignment across layers", joint="hsr"),
    Method("channel-l1", ("dw",), _channel("l1"), "baseline: whole DW channels by l1 norm"),
    Method("channel-l2", ("dw",), _channel("l2"), "baseline: whole DW channels by l2 norm"),
    Method("filter-l1", MATRIX_KINDS, _filter("l1"), "whole output filters by l1 norm"),
    Method("filter-l2", MATRIX_KINDS, _filter("l2"), "whole output filters by l2 norm (DEPrune PW)"),
    Method("nm", MATRIX_KINDS, _nm, "n:m fine-grained structured sparsity, e.g. nm:2:4"),
    Method("group-aligned", MATRIX_KINDS, _group("aligned"), "groups at aligned positions (baseline)"),
    Method("group-greedy", MATRIX_KINDS, _group("greedy"), "unaligned groups, greedy selection"),
    Method("group-optimal", MATRIX_KINDS, _group("optimal"), "unaligned groups, exact optimal selection"),
    Method("tile-thread", MATRIX_KINDS, _tile("thread"), "tile-aware: (thread rows x 1) units"),
    Method("tile-group", MATRIX_KINDS, _tile("group"), "tile-aware: (work-group rows x 1) units"),
]:
    register(_m)

GROUP_METHODS = ("group-aligned", "group-greedy", "group-optimal")
FILTER_METHODS = ("filter-l1", "filter-l2")


def parse_group(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", str(text))
    if not m or int(m.group(1)) < 1 or int(m.group(2)) < 1:
        raise InputError(f"group {text!r} is not ROWSxCOLS with positive sizes (e.g. 1x4, 4x4)")
    return int(m.group(1)), int(m.group(2))


def parse_spec(text: str, kind: str, group: tuple[int, int] | None = None,
               balanced: bool = False, option: str = "") -> MethodSpec:
    """Parse `name:ratio`, `nm:N:M` or `dense` for a layer kind; errors name the option."""
    where = f"{option} {text!r}" if option else repr(text)
    raw = str(text).strip()
    parts = raw.split(":")
    name = parts[0].strip().lower()
    if name in ("dense", "none", "off"):
        return MethodSpec("dense", 0.0, raw)
    method = REGISTRY.get(name)
    kinds_label = {"dw": "depthwise", "pw": "pointwise", "conv": "conv", "fc": "dense (fc)"}
    if method is None:
        valid = sorted(n for n, mm in REGISTRY.items() if kind in mm.kinds)
        raise InputError(f"unknown pruning method {name!r} in {where}; for {kinds_label.get(kind, kind)} "
                         f"layers choose from: {', '.join(valid)}, dense")
    if kind not in method.kinds:
        valid = sorted(n for n, mm in REGISTRY.items() if kind in mm.kinds)
        raise InputError(f"method {name!r} in {where} does not apply to {kinds_label.get(kind, kind)} "
                         f"layers; choose from: {', '.join(valid)}, dense")
    if method.name == "nm":
        if len(parts) != 3:
            raise InputError(f"{where}: n:m sparsity is written nm:N:M, e.g. nm:2:4")
        try:
            n, m = int(parts[1]), int(parts[2])
        except ValueError:
            raise InputError(f"{where}: N and M of nm:N:M must be integers") from None
        if not 0 < n <= m:
            raise InputError(f"{where}: nm:N:M needs 0 < N <= M")
        return MethodSpec("nm", 1.0 - n / m, raw, n=n, m=m)
    if len(parts) != 2:
        raise InputError(f"{where}: write the method as {name}:RATIO, e.g. {name}:0.5")
    try:
        ratio = float(parts[1])
    except ValueError:
        raise InputError(f"{where}: ratio {parts[1]!r} is not a number") from None
    if not 0.0 <= ratio < 1.0:
        raise InputError(f"{where}: ratio {ratio:g} is outside [0, 1)")
    return MethodSpec(method.name, ratio, raw,
                      group=group if method.name in GROUP_METHODS else None,
                      balanced=balanced if method.name in GROUP_METHODS else False)


def describe() -> list[tuple[str, str, str]]:
    """(name, kinds, summary) of every method, for --help and docs."""
    seen, rows = set(), []
    for name, mm in REGISTRY.items():
        if mm.name in seen:
            continue
        seen.add(mm.name)
        rows.append((mm.name, ",".join(mm.kinds), mm.summary))
    return rows
