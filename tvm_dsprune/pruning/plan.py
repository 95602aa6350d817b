"""The pruning plan: which method every layer gets.

Defaults follow the papers: the first conv and the last classifier layer stay dense (they are
sensitive), and filter pruning is applied only to PW layers that do not feed a depthwise conv
(the DEPrune paper, Sec. 4.2: pruning a PW-conv1 filter would remove a DW channel). A JSON plan file can set
everything the CLI can, plus per-layer overrides:

    {"dw": "dcp-bh:0.8", "pw": "filter-l2:0.5", "fc": "dense", "group": "1x4",
     "balanced": false, "prune_first": false, "prune_last": false, "filter_feeding_dw": false,
     "hsr_alpha": {"<dw layer name>": 0.12},
     "layers": {"<layer or weight name, or glob>": "magnitude:0.9" | "dense" |
                {"method": "group-optimal:0.9", "group": "4x4", "balanced": true}}}
"""
from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from ..errors import InputError
from .layers import Layer
from .methods import FILTER_METHODS, MethodSpec, parse_group, parse_spec

PLAN_KEYS = ("dw", "pw", "fc", "conv", "group", "balanced", "prune_first", "prune_last",
             "filter_feeding_dw", "layers", "hsr_alpha")
OVERRIDE_KEYS = ("method", "group", "balanced")


@dataclass
class PruneOptions:
    dw: str | None = None
    pw: str | None = None
    fc: str | None = None
    conv: str | None = None
    group: str | None = None             # e.g. "1x4"; None: the target geometry's group
    balanced: bool = False
    prune_first: bool = False
    prune_last: bool = False
    filter_feeding_dw: bool = False
    layers: dict = field(default_factory=dict)
    hsr_alpha: dict = field(default_factory=dict)

    def merged(self, **overrides) -> "PruneOptions":
        """These options with every override that is not None (CLI flags over a plan file)."""
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})


def load_plan(path: str | Path) -> PruneOptions:
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(f"plan file {path}: no such file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InputError(f"plan file {path} is not valid JSON: {err}") from None
    if not isinstance(data, dict):
        raise InputError(f"plan file {path}: expected a JSON object")
    unknown = sorted(set(data) - set(PLAN_KEYS) - {"target", "comment"})
    if unknown:
        raise InputError(f"plan file {path}: unknown keys {unknown}; known: {', '.join(PLAN_KEYS)}")
    for key in ("layers", "hsr_alpha"):
        if key in data and not isinstance(data[key], dict):
            raise InputError(f"plan file {path}: {key!r} must be an object")
    for key, value in data.get("layers", {}).items():
        if isinstance(value, dict):
            wrong = sorted(set(value) - set(OVERRIDE_KEYS) - {"comment"})
            if wrong:
                raise InputError(f"plan file {path}: layers[{key!r}] has unknown keys {wrong}; "
                                 f"known: {', '.join(OVERRIDE_KEYS)}")
    for name, alpha in data.get("hsr_alpha", {}).items():
        if not isinstance(alpha, (int, float)) or alpha < 0:
            raise InputError(f"plan file {path}: hsr_alpha[{name!r}] must be a number >= 0")
    known = {f.name for f in fields(PruneOptions)}
    return PruneOptions(**{k: v for k, v in data.items() if k in known})


def load_alpha_table(path: str | Path) -> dict[str, float]:
    """A measured HSR alpha table: {"<dw layer name>": alpha, ...}."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(f"HSR alpha table {path}: no such file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InputError(f"HSR alpha table {path} is not valid JSON: {err}") from None
    if not isinstance(data, dict) or not all(isinstance(v, (int, float)) and v >= 0 for v in data.values()):
        raise InputError(f"HSR alpha table {path}: expected {{\"layer name\": alpha >= 0, ...}}")
    return {str(k): float(v) for k, v in data.items()}


def prepare(target, plan=None, hsr_alpha=None, preset=None, **overrides):
    """The shared front of every prune: (resolved target, options, HSR alpha table).

    A preset (presets.py) or a plan file is read first; explicit arguments (not None) override
    it; a measured alpha table (a path or a dict) adds to the plan's."""
    from .. import targets
    from .presets import preset as named_preset

    resolved = targets.resolve(target)
    if preset and plan:
        raise InputError("give --preset or --plan, not both")
    opts = (PruneOptions(**named_preset(preset)) if preset else load_plan(plan) if plan else PruneOptions())
    opts = opts.merged(**overrides)
    alpha = dict(opts.hsr_alpha)
    if hsr_alpha:
        alpha.update(load_alpha_table(hsr_alpha) if isinstance(hsr_alpha, (str, Path)) else hsr_alpha)
    return resolved, opts, alpha


@dataclass
class Decision:
    layer: Layer
    spec: MethodSpec | None      # None = stays dense
    reason: str = ""             # why it stays dense, or where the spec came from


def _override_for(layer: Layer, overrides: dict):
    for key in (layer.name, layer.weight_name):
        if key in overrides:
            return key, overrides[key]
    for pattern, value in overrides.items():
        if fnmatch.fnmatchcase(layer.name, pattern) or fnmatch.fnmatchcase(layer.weight_name, pattern):
            return pattern, value
    return None, None


def decide(layers: list[Layer], opts: PruneOptions) -> list[Decision]:
    """One decision per layer; raises InputError on a bad spec or an override matching nothing."""
    default_group = parse_group(opts.group) if opts.group else None
    kind_specs = {}
    for kind, opt in (("dw", "--dw"), ("pw", "--pw"), ("fc", "--fc"), ("conv", "--conv")):
        text = getattr(opts, kind)
        if text:
            kind_specs[kind] = parse_spec(text, kind, default_group, opts.balanced, opt)
    last = max((L.position for L in layers), default=-1)
    used_overrides = set()
    out = []
    for L in layers:
        if L.unsupported:
            out.append(Decision(L, None, L.unsupported))
            continue
        key, value = _override_for(L, opts.layers)
        if key is not None:
            used_overrides.add(key)
            out.append(Decision(L, _override_spec(L, value, key, default_group, opts.balanced),
                                f"plan override {key!r}"))
            continue
        if L.kind == "grouped":
            out.append(Decision(L, None, "grouped conv (not depthwise): kept dense"))
            continue
        if L.position == 0 and L.kind in ("conv", "pw", "dw") and not opts.prune_first:
            out.append(Decision(L, None, "first conv: kept dense (use --prune-first)"))
            continue
        if L.position == last and not opts.prune_last:
            out.append(Decision(L, None, "last layer (classifier): kept dense (use --prune-last)"))
            continue
        spec = kind_specs.get(L.kind)
        if spec is None or spec.is_dense:
            out.append(Decision(L, None, "no method given for this kind"))
            continue
        if spec.name in FILTER_METHODS and L.kind == "pw" and L.feeds_dw and not opts.filter_feeding_dw:
            out.append(Decision(L, None, "feeds a depthwise conv: filter pruning would remove DW "
                                         "channels (use --filter-feeding-dw)"))
            continue
        out.append(Decision(L, spec, f"--{L.kind}"))
    unused = sorted(set(opts.layers) - used_overrides)
    if unused:
        raise InputError(f"plan override(s) {unused} match no prunable layer; "
                         f"layer names look like {layers[0].name!r}" if layers else
                         f"plan override(s) {unused} match no layer: the model has no prunable layer")
    return out


def _override_spec(layer: Layer, value, key: str, group, balanced) -> MethodSpec | None:
    where = f"plan override {key!r}"
    if isinstance(value, dict):
        text = value.get("method")
        if not isinstance(text, str):
            raise InputError(f"{where}: needs a 'method' string")
        group = parse_group(value["group"]) if "group" in value else group
        balanced = bool(value.get("balanced", balanced))
    elif isinstance(value, str):
        text = value
    else:
        raise InputError(f"{where}: expected a method string or an object with 'method'")
    spec = parse_spec(text, layer.kind if layer.kind != "grouped" else "conv", group, balanced, where)
    if layer.kind == "grouped" and not spec.is_dense:
        raise InputError(f"{where}: layer {layer.name} is a grouped conv, which can only stay dense")
    return None if spec.is_dense else spec
