"""prune(): the mask step on an ONNX model, as one function (the CLI's `prune` calls it)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import __version__
from ..errors import InputError
from ..frontend import arrays, onnx_model
from ..outputs import output_set
from .checks import check_alpha_names, check_masks_in_alone, empty_layers, unused_options
from .layers import Layer
from .masking import compute_masks, layer_row, unsupported_row, validate_masks
from .plan import Decision, decide, prepare
from .report import summarize


@dataclass
class PruneResult:
    report: dict
    masks: dict[str, np.ndarray]
    model: object = field(repr=False, default=None)     # the pruned onnx.ModelProto

    @property
    def notes(self) -> list[str]:
        return self.report.get("notes", [])

    @property
    def warnings(self) -> list[str]:
        return self.report.get("warnings", [])


def prune(model, output=None, *, dw=None, pw=None, fc=None, conv=None, group=None, balanced=None,
          target="cuda", plan=None, preset=None, masks=None, report=None, masks_in=None, prune_first=None,
          prune_last=None, filter_feeding_dw=None, hsr_alpha=None) -> PruneResult:
    """Prune an ONNX model (path or ModelProto) and write the pruned model, masks and report.

    dw/pw/fc/conv: method specs per layer kind (`dcp-bh:0.8`, `filter-l2:0.5`, `nm:2:4`, ...).
    group: `ROWSxCOLS` for group methods (default: the target geometry's group).
    target: a schedule-collection name or TVM target dict; its tile geometry sets the DR
        group, HSR tile, group size and tile-aware units.
    plan: a JSON plan file (see tvm_dsprune.pruning.plan); explicit arguments override it.
    masks / report: where to write masks.npz and report.json (optional).
    masks_in: apply the masks of an existing masks.npz instead of running the methods (no
        method option may be given with it).
    hsr_alpha: a JSON {layer: alpha} table of measured HSR speedups (default: cost model).
    Every output path is checked before the work; every output file is written, or none.
    The result's notes name options that changed nothing; its warnings, layers left empty.
    """
    if masks_in is not None:
        check_masks_in_alone(dw=dw, pw=pw, fc=fc, conv=conv, group=group, balanced=balanced, plan=plan,
                             preset=preset, hsr_alpha=hsr_alpha, prune_first=prune_first,
                             prune_last=prune_last, filter_feeding_dw=filter_feeding_dw)
    with output_set(output, masks, report) as out:      # every output checked before the work
        source = str(model) if isinstance(model, (str, Path)) else "<ModelProto>"
        proto = onnx_model.load(model) if isinstance(model, (str, Path)) else _copy(model)
        spec, opts, alpha = prepare(target, plan, hsr_alpha, preset, dw=dw, pw=pw, fc=fc, conv=conv, group=group,
                                    balanced=balanced, prune_first=prune_first, prune_last=prune_last,
                                    filter_feeding_dw=filter_feeding_dw)
        geometry = spec.geometry

        layers, weights = onnx_model.find_layers(proto)
        check_alpha_names(alpha, layers)
        if masks_in is not None:
            given = validate_masks(arrays.load(masks_in, "mask file"), {k: v.shape for k, v in weights.items()},
                                   str(masks_in))
            mask_map, rows, pattern = _from_masks(layers, weights, given, geometry, str(masks_in))
            notes = [] if any(not m.all() for m in given.values()) else \
                [f"mask file {masks_in} prunes nothing: every mask in it is all True"]
        else:
            decisions = decide(layers, opts)
            mask_map, rows, pattern = compute_masks(decisions, weights, geometry, alpha)
            notes = unused_options(layers, decisions, {"dw": opts.dw, "pw": opts.pw, "fc": opts.fc,
                                                       "conv": opts.conv})
        notes += kept_dense_notes(layers, rows)

        onnx_model.apply_masks(proto, mask_map)
        rep = {
            "tool": "tvm-dsprune", "version": __version__, "model": source,
            "target": spec.name, "geometry": geometry.as_dict(),
            "options": {"dw": opts.dw, "pw": opts.pw, "fc": opts.fc, "conv": opts.conv, "group": opts.group,
                        "balanced": opts.balanced, "prune_first": opts.prune_first,
                        "prune_last": opts.prune_last, "filter_feeding_dw": opts.filter_feeding_dw,
                        "masks_in": str(masks_in) if masks_in is not None else None},
            "summary": summarize(rows, pattern),
            "layers": rows,
            "notes": notes,
            "warnings": empty_layers(rows),
        }
        _write(out, proto, output, mask_map, masks, rep, report)
    return PruneResult(rep, mask_map, proto)


def kept_dense_notes(layers, rows: list[dict]) -> list[str]:
    """Notes for the layers left dense because their method cannot take them (a squeeze-excite
    conv too small for the group shape) or because the graph computes their weight."""
    notes = []
    refused = [r["name"] for r in rows if r.get("refused")]
    if refused:
        notes.append(f"{len(refused)} layer(s) kept dense because their method cannot take them "
                     f"(see their note): {', '.join(refused[:5])}{', ...' if len(refused) > 5 else ''}")
    computed = [L.name for L in layers if L.unsupported.startswith("weight is computed")]
    if computed:
        notes.append(f"{len(computed)} layer(s) read a weight the graph computes (not a constant, nor one "
                     f"through Identity / Cast): kept dense: {', '.join(computed[:5])}")
    return notes


def _copy(proto):
    import onnx

    if not isinstance(proto, onnx.ModelProto):
        raise InputError(f"model must be a path or an onnx.ModelProto, got {type(proto).__name__}")
    out = onnx.ModelProto()
    out.CopyFrom(proto)
    return out


def _from_masks(layers: list[Layer], weights, given, geometry, source):
    rows, masks = [], {}
    for L in layers:
        if L.weight_name not in weights:
            rows.append(unsupported_row(L))
            continue
        m = given.get(L.weight_name, np.ones(L.shape, bool))
        masks[L.weight_name] = m
        d = Decision(L, None, f"mask from {source}" if L.weight_name in given else "not in the mask file")
        row = layer_row(d, weights[L.weight_name], m, geometry)
        if L.weight_name in given:
            row["method"] = row["spec"] = "masks-file"
        rows.append(row)
    return masks, rows, ""


def _write(out, proto, output, mask_map, masks_path, rep, report_path) -> None:
    import onnx

    if output is not None:
        onnx.save(proto, str(out.path(output)))
    if masks_path is not None:
        arrays.save_masks(out.path(masks_path), mask_map)
    if report_path is not None:
        out.path(report_path).write_text(json.dumps(rep, indent=1))
