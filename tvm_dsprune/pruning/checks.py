"""What a prune run must tell its user beyond the table.

An option that names something that is not there is refused (like a plan override matching no
layer); an option that is valid but changed nothing gets a note; a layer left with no weight
at all gets a warning, since its output no longer depends on its input. The ONNX and the
torch paths share these checks.
"""
from __future__ import annotations

from ..errors import InputError
from .layers import Layer
from .plan import Decision

KIND_LABELS = {"dw": "depthwise conv", "pw": "pointwise (1x1) conv", "fc": "dense (Gemm/MatMul)",
               "conv": "other conv"}
# prune() arguments that choose methods, by the flag that sets them
METHOD_OPTIONS = {"dw": "--dw", "pw": "--pw", "fc": "--fc", "conv": "--conv", "group": "--group",
                  "balanced": "--balanced", "plan": "--plan", "preset": "--preset", "hsr_alpha": "--hsr-alpha",
                  "prune_first": "--prune-first", "prune_last": "--prune-last",
                  "filter_feeding_dw": "--filter-feeding-dw"}


def check_masks_in_alone(**given) -> None:
    """--masks-in applies masks made elsewhere: refuse method options that it would ignore."""
    clash = [METHOD_OPTIONS[k] for k, v in given.items() if v is not None and v is not False]
    if clash:
        raise InputError(f"--masks-in applies existing masks; {', '.join(clash)} would be ignored: "
                         "give either --masks-in or the pruning methods")


def check_alpha_names(alpha: dict, layers: list[Layer]) -> None:
    """Every name of a measured HSR alpha table must be a depthwise layer of the model."""
    dw = [L.name for L in layers if L.kind == "dw"]
    unknown = sorted(set(alpha) - set(dw))
    if unknown:
        hint = f"depthwise layer names look like {dw[0]!r}" if dw else "the model has no depthwise layer"
        raise InputError(f"HSR alpha for {unknown[:3]}{' ...' if len(unknown) > 3 else ''} names no depthwise "
                         f"layer; {hint}")


def unused_options(layers: list[Layer], decisions: list[Decision], specs: dict[str, str | None]) -> list[str]:
    """Notes for the kind specs ({"dw": "dcp-bh:0.8", ...}) that pruned no layer, and why."""
    notes = []
    for kind, text in specs.items():
        if not text or text.strip().lower() in ("dense", "none", "off"):
            continue
        of_kind = [d for d in decisions if d.layer.kind == kind]
        if not of_kind:
            notes.append(f"the model has no {KIND_LABELS[kind]} layer: --{kind} {text} changed nothing")
        elif not any(d.spec is not None and d.reason == f"--{kind}" for d in of_kind):
            by_reason: dict[str, list[str]] = {}
            for d in of_kind:
                by_reason.setdefault(d.reason, []).append(d.layer.name)
            why = "; ".join(f"{names[0]}: {reason}" if len(names) == 1 else f"{len(names)} layers: {reason}"
                            for reason, names in by_reason.items())
            notes.append(f"--{kind} {text} changed nothing: {why}")
    if not layers:
        notes.append("the model has no Conv, Gemm or MatMul layer: nothing to prune")
    return notes


def empty_layers(rows: list[dict]) -> list[str]:
    """A warning naming the layers whose mask keeps no weight at all (none: [])."""
    empty = [r["name"] for r in rows if r.get("weights", 0) > 0 and r.get("ratio", 0.0) >= 1.0]
    if not empty:
        return []
    shown = ", ".join(empty[:5]) + (f" and {len(empty) - 5} more" if len(empty) > 5 else "")
    return [f"{len(empty)} layer(s) keep none of their weights, so their outputs no longer depend on "
            f"the input: {shown}"]
