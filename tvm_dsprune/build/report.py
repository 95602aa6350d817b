"""The compile report: one row per conv / dense layer (dense, sparse or compact, and why)."""
from __future__ import annotations


def make_report(records, target_name: str, sparse: str, frontend=()) -> dict:
    """frontend: what normalizing the model changed before import (frontend/normalize.py)."""
    rows = [r.as_dict() for r in records]
    for r in rows:
        r.pop("position", None)
    sparse_rows = [r for r in rows if r["decision"] == "sparse"]
    return {"target": target_name, "sparse_mode": sparse, "frontend": list(frontend), "layers": rows,
            "summary": {"layers": len(rows), "sparse": len(sparse_rows),
                        "compact": sum(1 for r in rows if r["decision"] == "compact"),
                        "dense_pruned": sum(1 for r in rows if r["decision"] == "dense" and r["density"] < 1.0),
                        "by_op": {op: sum(1 for r in sparse_rows if r["op"] == op) for op in ("dw", "pw", "conv", "fc")}}}


def format_report(rep: dict) -> str:
    head = ("layer", "op", "shape", "density", "kernel", "format / reason")
    rows = []
    for r in rep["layers"]:
        detail = r["reason"] if r["decision"] == "dense" else r["format"]
        rows.append((r["name"], r["op"], "x".join(map(str, r["shape"])), f"{r['density']:.2f}",
                     r["decision"], detail))
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
                 + (f"{s['compact']} compact (dense kernel on the kept filters); " if s["compact"] else "")
                 + f"{s['dense_pruned']} pruned layers kept dense")
    return "\n".join(lines)
