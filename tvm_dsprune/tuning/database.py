"""MetaSchedule tuning records (JSON databases) applied at compile time.

A folder holds TVM's own `database_workload.json` and `database_tuning_record.json`. Before a
database is used, its records' targets are checked against the compile target: records for
another target kind (or GPU arch / CPU) are refused with one message.
"""
from __future__ import annotations

import json
from pathlib import Path

from ..errors import InputError

WORKLOADS = "database_workload.json"
RECORDS = "database_tuning_record.json"


def record_targets(folder: Path) -> list[dict]:
    """The distinct targets the records of a database were tuned for (JSON lines, no pickle)."""
    seen, out = set(), []
    with open(folder / RECORDS) as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                target = json.loads(line)[1][2]
            except (json.JSONDecodeError, IndexError, TypeError):
                raise InputError(f"{folder / RECORDS} line {n} is not a MetaSchedule tuning record") from None
            key = json.dumps(target, sort_keys=True)
            if key not in seen:
                seen.add(key)
                out.append(target)
    return out


def open_database(path, target):
    """A JSONDatabase for `path`, after checking its records were tuned for `target`."""
    from tvm.s_tir import meta_schedule as ms

    folder = Path(path)
    if not (folder / WORKLOADS).is_file() or not (folder / RECORDS).is_file():
        raise InputError(f"tuning records {folder}: not a MetaSchedule database folder "
                         f"(needs {WORKLOADS} and {RECORDS})")
    from .. import targets

    want = targets.resolve(target).as_dict()
    for rec in record_targets(folder):
        for key in ("kind", "arch", "mcpu", "device", "mtriple"):
            if key in rec and key in want and str(rec[key]) != str(want[key]):
                raise InputError(f"tuning records in {folder} are for target {key}={rec[key]!r}, "
                                 f"not {want[key]!r}: tune for this target or drop --tuning-records")
    return ms.database.JSONDatabase(path_workload=str(folder / WORKLOADS),
                                    path_tuning_record=str(folder / RECORDS), allow_missing=False)
