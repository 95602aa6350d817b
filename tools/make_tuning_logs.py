#!/usr/bin/env python3
"""Produce the shipped tuning databases (tuning_logs/) on this machine's CPU.

For each zoo model and plan (dense, --preset deprune-bh, --preset cpu-sparse) it prunes the
model, runs `tune` into tuning_logs/<target label>/<model>-<plan>/ with the given trials and
time budget, writes that folder's info.json (target, model, plan, trials, tuning time), and
rewrites the table of tuning_logs/README.md from every info.json there. The databases are
shipped gzip-compressed (tvm_dsprune/tuning/packed.py); a folder is unpacked before it is tuned
further and packed again after.

Resumable like `tune` itself: run the same command again and each database continues to its
trial total (the tuning time adds up). Run it on the final kernels: a database holds workloads
of the kernels it was tuned on, and a kernel that changed afterwards no longer matches them.

    python tools/make_tuning_logs.py --trials 600 --time-budget 30
    python tools/make_tuning_logs.py --models tiny --plans dense --trials 20   # a try-out
    python tools/make_tuning_logs.py --table-only                             # the README table
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

MODELS = ("mobilenet_v2", "mobilenet_v3_small", "efficientnet_b0")
PLANS = ("dense", "deprune-bh", "cpu-sparse")
REPO = Path(__file__).resolve().parent.parent
BEGIN, END = "<!-- table: tools/make_tuning_logs.py -->", "<!-- end of table -->"


def target_label(target: dict) -> str:
    """tuning_logs/ folder of a target: its kind and CPU (llvm-znver3)."""
    return "-".join(str(target[k]) for k in ("kind", "mcpu", "mtriple") if target.get(k))


def model_for(name: str, plan: str, work: Path) -> Path:
    from tvm_dsprune import zoo
    from tvm_dsprune.pruning.onnx_prune import prune

    dense = work / f"{name}.onnx"
    if not dense.exists():
        zoo.export(name, dense)
    if plan == "dense":
        return dense
    pruned = work / f"{name}-{plan}.onnx"
    prune(dense, pruned, preset=plan, target="llvm")
    return pruned


def make(name: str, plan: str, args, work: Path) -> dict:
    from tvm_dsprune import targets
    from tvm_dsprune.tuning.packed import has_database, pack, unpack_in_place
    from tvm_dsprune.tuning.tune import tune

    tgt = targets.resolve(args.target)
    folder = Path(args.out) / target_label(tgt.as_dict()) / f"{name}-{plan}"
    info_path = folder / "info.json"
    # a resumed database adds to its time; a folder whose database was removed starts again
    before = json.loads(info_path.read_text()) if info_path.is_file() and has_database(folder) else {}
    model = model_for(name, plan, work)
    print(f"== {name}, {plan}: {folder}", flush=True)
    t0 = time.perf_counter()
    unpack_in_place(folder)                        # shipped packed; tune appends to the plain files
    result = tune(model, args.target, args.trials, folder, time_budget=args.time_budget * 60 if args.time_budget else None,
                  progress=lambda m: print(m, flush=True))
    info = {"target": tgt.as_dict(), "model": name, "plan": plan, "trials": result.trials, "trials_asked": args.trials,
            "seconds": round(before.get("seconds", 0.0) + time.perf_counter() - t0, 1),
            "complete": result.complete, "tasks": len(result.tasks), "untunable": len(result.skipped),
            "tuned_faster": sum(1 for t in result.tasks if t["best_ms"] is not None and t["baseline_ms"] is not None
                                and t["best_ms"] < t["baseline_ms"])}
    if folder.is_dir():
        info_path.write_text(json.dumps(info, indent=1) + "\n")
        pack(folder)
    return info


def describe(target: dict) -> str:
    return f"`{target.get('kind')}`" + "".join(f" {k}=`{target[k]}`" for k in ("mcpu", "mtriple") if target.get(k))


def table(base: Path) -> str:
    rows = ["| folder | target | model | plan | trials | tuning time | tasks (tuned faster than the rules; not tunable) |",
            "|---|---|---|---|---|---|---|"]
    for info_path in sorted(base.glob("*/*/info.json")):
        info = json.loads(info_path.read_text())
        minutes = info.get("seconds", 0) / 60
        trials = f"{info.get('trials')}" + ("" if info.get("complete", True) else f" of {info.get('trials_asked')}")
        rows.append(f"| `{info_path.parent.relative_to(base)}` | {describe(info.get('target', {}))} | "
                    f"{info.get('model')} | {info.get('plan')} | {trials} | {minutes:.0f} min | "
                    f"{info.get('tasks', '?')} ({info.get('tuned_faster', '?')}"
                    + (f"; {info['untunable']} not tunable" if info.get("untunable") else "") + ") |")
    return "\n".join(rows)


def write_table(base: Path) -> None:
    readme = base / "README.md"
    text = readme.read_text()
    if BEGIN not in text or END not in text:
        sys.exit(f"{readme}: the table markers are missing ({BEGIN} ... {END})")
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    readme.write_text(f"{head}{BEGIN}\n{table(base)}\n{END}{tail}")
    print(table(base))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default=",".join(MODELS), help=f"zoo models (default {','.join(MODELS)})")
    p.add_argument("--plans", default=",".join(PLANS), help=f"dense and/or presets (default {','.join(PLANS)})")
    p.add_argument("--trials", type=int, default=600, help="trial total of each database (default 600)")
    p.add_argument("--time-budget", type=float, metavar="MINUTES",
                   help="stop each database after this long (the same command continues it)")
    p.add_argument("--target", default="llvm", help="the target to tune for (default llvm: this CPU)")
    p.add_argument("--out", default=str(REPO / "tuning_logs"), help="the tuning_logs folder (default the repository's)")
    p.add_argument("--table-only", action="store_true", help="only rewrite the README table")
    args = p.parse_args()
    base = Path(args.out)
    if not args.table_only:
        plans = [x for x in args.plans.split(",") if x]
        unknown = [x for x in plans if x not in PLANS]
        if unknown:
            sys.exit(f"--plans: unknown {', '.join(unknown)} (choose from {', '.join(PLANS)})")
        with tempfile.TemporaryDirectory(prefix="tuning-logs-") as work:
            for name in [x for x in args.models.split(",") if x]:
                for plan in plans:
                    make(name, plan, args, Path(work))
    write_table(base)
    return 0


if __name__ == "__main__":
    sys.exit(main())
