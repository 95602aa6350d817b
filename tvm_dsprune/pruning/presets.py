"""Named pruning plans: what `prune --preset NAME` applies (a plan file's keys, see plan.py).

deprune-bh: DEPrune-BH as the paper runs it: DW convs by DCP with balanced workload and HSR tile
    alignment at 78%, PW convs that do not feed a DW conv filter-pruned by l2 norm at 50%.
cpu-sparse: what a CPU should run: DW convs as in DEPrune-BH at 80%, every 1x1 conv in unaligned
    1x4 groups chosen optimally at 85% (XNNPACK / Fast Sparse ConvNets territory, where sparse
    1x1 kernels beat dense ones on CPUs); the first conv and the classifier stay dense.
"""
from __future__ import annotations

from ..errors import InputError

PRESETS: dict[str, dict] = {
    "deprune-bh": {"dw": "dcp-bh:0.78", "pw": "filter-l2:0.5"},
    "cpu-sparse": {"dw": "dcp-bh:0.8", "pw": "group-optimal:0.85", "group": "1x4"},
}


def preset(name: str) -> dict:
    if name not in PRESETS:
        raise InputError(f"unknown preset {name!r}; presets: {', '.join(PRESETS)}")
    return dict(PRESETS[name])


def label(plan: dict) -> str:
    """'DW dcp-bh:0.78, PW filter-l2:0.5' for tables."""
    return f"DW {plan['dw']}, PW {plan['pw']}" + (f" {plan['group']}" if plan.get("group") else "")
