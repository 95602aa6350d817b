"""Turn a plan into masks: per-layer methods, then the cross-layer steps (HSR)."""
from __future__ import annotations

import numpy as np

from ..errors import InputError
from . import dr, hsr
from .methods import REGISTRY, Context, LayerRefused
from .plan import Decision


def compute_masks(decisions: list[Decision], weights: dict[str, np.ndarray], geometry,
                  hsr_alpha: dict[str, float] | None = None) -> tuple[dict[str, np.ndarray], list[dict], str]:
    """Masks for every layer (all-True for dense ones), per-layer report rows, HSR pattern.
    A layer its method refuses (methods.LayerRefused) stays dense, its decision says why."""
    masks: dict[str, np.ndarray] = {}
    rows: list[dict] = []
    hsr_members: list[int] = []
    refused: set[int] = set()
    asked = list(decisions)
    for i, d in enumerate(decisions):
        L = d.layer
        if L.weight_name not in weights:
            rows.append({})
            continue
        w = np.asarray(weights[L.weight_name])
        if d.spec is None:
            masks[L.weight_name] = np.ones(w.shape, bool)
        else:
            method = REGISTRY[d.spec.name]
            try:
                mask = method.fn(w, d.spec, Context(L, geometry))
            except LayerRefused as refusal:
                decisions[i] = Decision(L, None, f"{d.spec.text}: {refusal}")
                refused.add(i)
                masks[L.weight_name] = np.ones(w.shape, bool)
                rows.append({})
                continue
            masks[L.weight_name] = np.asarray(mask, bool).reshape(w.shape)
            if method.joint == "hsr":
                hsr_members.append(i)
        rows.append({})
    _refuse_useless_specs(decisions, refused, {i: d.spec for i, d in enumerate(asked)})
    pattern = ""
    if hsr_members:
        items = [hsr.HSRLayer(decisions[i].layer.name, np.asarray(weights[decisions[i].layer.weight_name]),
                              masks[decisions[i].layer.weight_name]) for i in hsr_members]
        new_masks, hsr_dec, pattern = hsr.recalibrate(items, geometry.dr_group, geometry.k_tile,
                                                      geometry.tile_overhead, hsr_alpha)
        for i, m, hd in zip(hsr_members, new_masks, hsr_dec):
            masks[decisions[i].layer.weight_name] = m
            rows[i]["hsr"] = {"pattern": hd.pattern, "eps": hd.eps, "alpha": hd.alpha,
                              "beta": hd.beta, "kept_before": hd.kept_before, "kept_after": hd.kept_after}
    for i, d in enumerate(decisions):
        if d.layer.weight_name not in weights:
            rows[i] = unsupported_row(d.layer)
            continue
        rows[i] = layer_row(d, weights[d.layer.weight_name], masks[d.layer.weight_name], geometry) | rows[i]
        if i in refused:
            rows[i]["refused"] = True
    return masks, rows, pattern


def _refuse_useless_specs(decisions, refused: set[int], specs: dict) -> None:
    """A spec that every layer it was given refuses is a mistake (a group larger than any
    weight), not a small layer: InputError, naming one refusal."""
    by_spec: dict[str, list[int]] = {}
    for i, spec in specs.items():
        if spec is not None:
            by_spec.setdefault(spec.text, []).append(i)
    for text, members in by_spec.items():
        if members and all(i in refused for i in members):
            first = decisions[members[0]]
            reason = first.reason.split(": ", 1)[-1].removesuffix(": kept dense")
            raise InputError(f"{text} fits none of the {len(members)} layer(s) it was given "
                             f"(layer {first.layer.name}: {reason})")


def validate_masks(masks: dict[str, np.ndarray], shapes: dict[str, tuple[int, ...]],
                   source: str) -> dict[str, np.ndarray]:
    """Masks as bool arrays, checked against the model: at least one, every key a prunable
    weight, same shape."""
    if not masks:
        raise InputError(f"mask file {source} holds no arrays: there is nothing to apply")
    unknown = sorted(set(masks) - set(shapes))
    if unknown:
        raise InputError(f"mask file {source}: {len(unknown)} array(s) name no prunable weight of the "
                         f"model, e.g. {unknown[0]!r}")
    out = {}
    for name, m in masks.items():
        if tuple(m.shape) != tuple(shapes[name]):
            raise InputError(f"mask file {source}: mask {name!r} has shape {tuple(m.shape)}, "
                             f"the weight has shape {tuple(shapes[name])}")
        if m.dtype != bool:
            if not np.isin(m, (0, 1)).all():
                raise InputError(f"mask file {source}: mask {name!r} is {m.dtype} with values other than 0/1")
            m = m.astype(bool)
        out[name] = m
    return out


def layer_row(d: Decision, weight: np.ndarray, mask: np.ndarray, geometry) -> dict:
    L = d.layer
    row = {"name": L.name, "kind": L.kind, "weight": L.weight_name, "shape": list(L.shape),
           "method": d.spec.name if d.spec else "dense", "spec": d.spec.text if d.spec else "dense",
           "target_ratio": d.spec.ratio if d.spec else 0.0,
           "ratio": float(1.0 - mask.sum() / mask.size), "weights": int(mask.size),
           "feeds_dw": L.feeds_dw, "note": d.reason}
    if d.spec is not None and d.spec.name in ("group-aligned", "group-greedy", "group-optimal"):
        row["group"] = list(d.spec.group or geometry.group)
        row["balanced"] = d.spec.balanced
    if L.kind == "dw":
        lay = dr.layout(L.shape, geometry.dr_group)
        kept = dr.kept_per_subgemm(mask, geometry.dr_group)
        cols = [lay.columns(g) for g in range(lay.num_subgemms)]
        row["subgemm_kept"] = kept.tolist()
        row["subgemm_columns"] = cols
        # (our reading) the layer runs as slow as its densest sub-GEMM: Real DW is the ratio it
        # would have if every sub-GEMM kept as many columns as that one.
        row["real_ratio"] = float(1.0 - kept.max() / max(cols))
    return row


def unsupported_row(layer) -> dict:
    """A layer the mask step cannot touch (non-constant or shared weight, 3-D conv, ...)."""
    return {"name": layer.name, "kind": layer.kind, "weight": layer.weight_name, "shape": list(layer.shape),
            "method": "dense", "spec": "dense", "target_ratio": 0.0, "ratio": 0.0, "weights": 0,
            "feeds_dw": layer.feeds_dw, "note": layer.unsupported, "real_ratio": 0.0}
