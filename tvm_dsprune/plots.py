"""PNG figures where a picture says more than a table: the tuning curve of a `tune` run and the
per-layer time against onnxruntime of a `profile`.

matplotlib draws off screen (the Agg backend), so the figures work on a machine with no display.
"""
from __future__ import annotations

from pathlib import Path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def tuning_curve(curve: list[dict], path, title: str = "") -> None:
    """The model's kernel time (each task's best time times its calls, summed) against the
    minutes of tuning, beside the collection's own schedules; points before every task has a
    time are left out."""
    points = [p for p in curve if p.get("model_ms") is not None]
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    if points:
        minutes = [p["seconds"] / 60 for p in points]
        ax.step(minutes, [p["model_ms"] for p in points], where="post", label="tuned (best so far)")
        base = next((p["collection_ms"] for p in reversed(points) if p.get("collection_ms") is not None), None)
        if base is not None:
            ax.axhline(base, color="grey", linestyle="--", label="the collection's schedules")
        step = max(1, len(points) // 6)
        top = ax.secondary_xaxis("top")
        top.set_xticks(minutes[::step], labels=[str(p["trials"]) for p in points[::step]])
        top.set_xlabel("trials in the database")
        ax.legend()
    else:
        ax.text(0.5, 0.5, "no batch measured every task yet", ha="center", transform=ax.transAxes)
    ax.set_xlabel("tuning time (min)")
    ax.set_ylabel("kernels of the model (ms, alone, summed)")
    ax.set_title(title or "tuning curve")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(Path(path), format="png", dpi=110)
    plt.close(fig)


def layer_ratios(layers: list[dict], path, title: str = "") -> list[tuple[str, float]]:
    """One bar per layer: TVM's time in the model over onnxruntime's time for the node (below
    1: TVM is faster), layers in model order; layers onnxruntime has no time for are left out.
    Returns the (layer, ratio) bars drawn."""
    rows = [r for r in layers if r.get("ort_us") and r.get("tvm_in_model_us")]
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(7, 0.18 * len(rows) + 2), 4.5))
    ratios = [r["tvm_in_model_us"] / r["ort_us"] for r in rows]
    ax.bar(range(len(rows)), ratios, color=["tab:green" if x < 1 else "tab:red" for x in ratios])
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(rows)), labels=[_short(r["layer"]) for r in rows], rotation=90, fontsize=6)
    ax.set_ylabel("TVM in the model / onnxruntime")
    ax.set_title(title or "time per layer against onnxruntime (below 1: TVM faster)")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(Path(path), format="png", dpi=110)
    plt.close(fig)
    return [(r["layer"], x) for r, x in zip(rows, ratios)]


def _short(layer: str) -> str:
    """`/features/features.2/conv/conv.0/conv.0.0/Conv` -> `features.2 conv.0.0`: the block and the op."""
    parts = [p for p in layer.strip("/").split("/") if p not in ("Conv", "Gemm", "MatMul")]
    if len(parts) > 2:
        return f"{parts[1]} {parts[-1]}"
    return " ".join(parts) or layer
