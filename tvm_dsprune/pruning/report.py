"""The prune report: per-layer rows, model summary, and the table printed for people."""
from __future__ import annotations

import numpy as np


def _mean(values, sizes) -> float:
    sizes = np.asarray(sizes, float)
    return float(np.dot(sizes, values) / sizes.sum()) if sizes.sum() > 0 else 0.0


def summarize(rows: list[dict], hsr_pattern: str) -> dict:
    """Per kind: layers, pruned layers, weighted target/achieved ratios; DW adds "Real DW".

    (our reading) Real DW of a model = the size-weighted mean over DW layers of each layer's
    real ratio: the ratio it runs at, every sub-GEMM as slow as the one keeping most columns.
    """
    out: dict = {}
    for kind in ("dw", "pw", "conv", "fc", "grouped"):
        rs = [r for r in rows if r["kind"] == kind]
        if not rs:
            continue
        size = [r["weights"] for r in rs]
        pruned = [r for r in rs if r["method"] != "dense"]
        psize = [r["weights"] for r in pruned]
        entry = {"layers": len(rs), "pruned_layers": len(pruned),
                 "ratio": _mean([r["ratio"] for r in rs], size),
                 "target_ratio_of_pruned": _mean([r["target_ratio"] for r in pruned], psize),
                 "ratio_of_pruned": _mean([r["ratio"] for r in pruned], psize)}
        if kind == "dw":
            entry["real_ratio"] = _mean([r["real_ratio"] for r in rs], size)
            entry["real_ratio_of_pruned"] = _mean([r["real_ratio"] for r in pruned], psize)
        out[kind] = entry
    total = sum(r["weights"] for r in rows)
    out["total"] = {"layers": len(rows), "weights": total,
                    "ratio": float(sum(r["ratio"] * r["weights"] for r in rows) / total) if total else 0.0}
    if hsr_pattern:
        out["hsr_pattern"] = hsr_pattern
    return out


def _kept_text(row: dict) -> str:
    if "subgemm_kept" not in row:
        return ""
    kept, cols = row["subgemm_kept"], row["subgemm_columns"]
    lo, hi = min(kept), max(kept)
    span = f"{lo}" if lo == hi else f"{lo}-{hi}"
    return f"{span}/{max(cols)} x{len(kept)}"


def format_table(report: dict) -> str:
    """A readable per-layer table plus the summary lines."""
    rows = report["layers"]
    head = ("#", "layer", "kind", "shape", "method", "target", "ratio", "sub-GEMM kept", "HSR", "note")
    table = []
    for i, r in enumerate(rows):
        hsr_cell = r.get("hsr", {}).get("pattern", "")
        note = "" if r["method"] != "dense" else r["note"]
        table.append((str(i), r["name"], r["kind"], "x".join(map(str, r["shape"])), r["spec"],
                      f"{r['target_ratio']:.2f}" if r["method"] != "dense" else "",
                      f"{r['ratio']:.3f}", _kept_text(r), hsr_cell, note))
    widths = [max(len(h), *(len(t[c]) for t in table)) if table else len(h) for c, h in enumerate(head)]
    widths[1] = min(widths[1], 48)

    def fmt(cells):
        cells = list(cells)
        if len(cells[1]) > widths[1]:
            cells[1] = "…" + cells[1][-(widths[1] - 1):]
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()

    lines = [fmt(head), fmt("-" * w for w in widths)] + [fmt(t) for t in table]
    s = report["summary"]
    lines.append("")
    names = {"dw": "DW", "pw": "PW", "conv": "conv", "fc": "FC", "grouped": "grouped"}
    for kind in ("dw", "pw", "conv", "fc", "grouped"):
        if kind in s:
            e = s[kind]
            text = f"{names[kind]:>7}: {e['pruned_layers']}/{e['layers']} layers pruned"
            if e["pruned_layers"]:
                text += (f", ratio {e['ratio']:.3f} (pruned layers {e['ratio_of_pruned']:.3f}, "
                         f"target {e['target_ratio_of_pruned']:.3f})")
            if kind == "dw" and e["pruned_layers"]:
                text += f", Real DW {e['real_ratio_of_pruned']:.3f}"
            lines.append(text)
    lines.append(f"{'total':>7}: ratio {s['total']['ratio']:.3f} of {s['total']['weights']} weights")
    if "hsr_pattern" in s:
        lines.append(f"{'HSR':>7}: {s['hsr_pattern']} (u = under-aligned, o = over-aligned)")
    return "\n".join(lines)
