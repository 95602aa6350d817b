"""The compile report: one row per conv / dense layer (dense, sparse or compact, and why; tuned
or the collection's schedule)."""
from __future__ import annotations

from ..relax.layer_records import runs_kernel


def make_report(records, target_name: str, sparse: str, frontend=(), kernels=None, tuning: str | None = None) -> dict:
    """frontend: what normalizing the model changed before import (frontend/normalize.py).
    `kernels`: the kernel table (kernel -> layer, tuned) of the lowered module; `tuning`: the
    tuning records applied (a description), None when none were."""
    tuned_layers = {k["layer"] for k in kernels or () if k.get("tuned") and k.get("layer")}
    tuned_kernels = {k["kernel"] for k in kernels or () if k.get("tuned")}
    rows = [r.as_dict() for r in records]
    for r in rows:
        r.pop("position", None)
        # a kernel computing two layers (a fused depthwise + 1x1 pair) is named after one of them
        tuned = r["name"] in tuned_layers or any(runs_kernel(k, r.get("kernel", "")) for k in tuned_kernels)
        r["schedule"] = "tuned" if tuned else "rules"
    sparse_rows = [r for r in rows if r["decision"] == "sparse"]
    return {"target": target_name, "sparse_mode": sparse, "frontend": list(frontend), "layers": rows,
            "tuning_records": tuning,
            "summary": {"layers": len(rows), "sparse": len(sparse_rows),
                        "compact": sum(1 for r in rows if r["decision"] == "compact"),
                        "dense_pruned": sum(1 for r in rows if r["decision"] == "dense" and r["density"] < 1.0),
                        "tuned": sum(1 for r in rows if r["schedule"] == "tuned"),
                        "tuned_kernels": sum(1 for k in kernels or () if k.get("tuned")),
                        "kernels": len(kernels or ()),
                        "by_op": {op: sum(1 for r in sparse_rows if r["op"] == op) for op in ("dw", "pw", "conv", "fc")}}}


def format_report(rep: dict) -> str:
    head = ("layer", "op", "shape", "density", "kernel", "schedule", "format / reason")
    rows = []
    for r in rep["layers"]:
        detail = r["reason"] if r["decision"] == "dense" else r["format"]
        rows.append((r["name"], r["op"], "x".join(map(str, r["shape"])), f"{r['density']:.2f}",
                     r["decision"], r.get("schedule", "rules"), detail))
    widths = [min(max(len(h), *(len(x[i]) for x in rows)) if rows else len(h), 48 if i == 0 else 200)
              for i, h in enumerate(head)]

    def fmt(cells):
        cells = list(cells)
        if len(cells[0]) > widths[0]:
            cells[0] = "…" + cells[0][-(widths[0] - 1):]
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()

    s = rep["summary"]
    lines = [f"frontend: {step}" for step in rep.get("frontend", [])]
    lines += [""] if lines else []
    lines += [fmt(head), fmt("-" * w for w in widths)] + [fmt(r) for r in rows]
    lines.append(f"\n{s['sparse']} of {s['layers']} conv/dense layers sparse "
                 f"({', '.join(f'{k} {v}' for k, v in s['by_op'].items() if v) or 'none'}); "
                 + (f"{s['compact']} compact (dense kernel on the kept filters and input channels); " if s["compact"] else "")
                 + f"{s['dense_pruned']} pruned layers kept dense; " + tuning_line(rep))
    return "\n".join(lines)


def tuning_line(rep: dict) -> str:
    """One line on the tuning records a build used (the report's `tuning_records`)."""
    s = rep["summary"]
    if not rep.get("tuning_records"):
        return "no tuning records (the collection's schedules)"
    return (f"{s.get('tuned', 0)} of {s['layers']} layers tuned ({s.get('tuned_kernels', 0)} of "
            f"{s.get('kernels', 0)} kernels) from {rep['tuning_records']}")
