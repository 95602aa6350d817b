"""The tuning databases shipped with the package (`tuning_logs/`, installed as
`tvm_dsprune.tuning_logs`), the way TopHub shipped AutoTVM logs.

Each database folder holds TVM's two JSON files, gzip-compressed (packed.py), and an
`info.json` (target, model, plan, trials, tuning time). A build uses the shipped databases whose target is the build's own (kind, CPU,
triple, GPU arch, device): records tuned on another CPU are not applied, and the build says so
and how to tune for this one.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .database import describe_target, target_key
from .packed import has_database, readable

INFO = "info.json"


@dataclass
class ShippedLog:
    folder: Path
    info: dict

    @property
    def target(self) -> dict:
        return self.info.get("target", {})

    @property
    def label(self) -> str:
        return f"{self.info.get('model', self.folder.name)} ({self.info.get('plan', '?')})"


def root() -> Path | None:
    """The installed tuning_logs folder (None if the package data is missing)."""
    from importlib import resources

    try:
        path = Path(str(resources.files("tvm_dsprune.tuning_logs")))
    except (ModuleNotFoundError, TypeError):
        return None
    return path if path.is_dir() else None


def shipped(base: Path | None = None) -> list[ShippedLog]:
    """Every shipped database folder (both JSON files, plain or packed, and a readable info.json)."""
    base = root() if base is None else Path(base)
    if base is None:
        return []
    out = []
    for info in sorted(base.glob(f"*/*/{INFO}")):
        folder = info.parent
        if not has_database(folder):
            continue
        try:
            meta = json.loads(info.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if isinstance(meta, dict) and isinstance(meta.get("target"), dict):
            out.append(ShippedLog(folder, meta))
    return out


def matching(target, base: Path | None = None) -> tuple[list[ShippedLog], list[ShippedLog]]:
    """(the shipped databases tuned for `target`, the others)."""
    from .. import targets

    want = target_key(targets.resolve(target).as_dict())
    logs = shipped(base)
    return ([s for s in logs if target_key(s.target) == want],
            [s for s in logs if target_key(s.target) != want])


def open_shipped(target, base: Path | None = None):
    """(database or None, what it holds, a hint when nothing matches) for a build on `target`."""
    from tvm.s_tir import meta_schedule as ms

    from .. import targets
    from .database import check_targets, load, scan

    target = targets.resolve(target)
    mine, others = matching(target, base)
    if not mine:
        hint = (f"untuned schedules: no shipped tuning records for {describe_target(target.as_dict())}"
                + (f" (shipped: {', '.join(sorted({describe_target(s.target) for s in others}))})" if others else "")
                + "; `tvm-dsprune tune` tunes a model for it")
        return None, None, hint
    dbs = []
    for log in mine:
        folder = readable(log.folder)
        files = scan(folder)
        check_targets(files, target.as_dict())
        dbs.append(load(folder, files))
    database = dbs[0] if len(dbs) == 1 else ms.database.UnionDatabase(*dbs)
    where = mine[0].folder.parent
    return database, (f"shipped tuning_logs/{where.name} ({', '.join(s.label for s in mine)}; "
                      "off: --no-tuning-logs, or tuning_records=False)"), None
