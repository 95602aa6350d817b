"""MetaSchedule tuning records (JSON databases): checked, repaired, and opened for a target.

A folder holds TVM's own `database_workload.json` (one line per workload: structural hash and
the workload's IRModule) and `database_tuning_record.json` (one line per measured trial:
workload index, trace, run times, target, argument shapes). TVM parses both files in parallel
threads and reports a bad line as an opaque `parallel_for_dynamic error`, so every line is
checked here first, and named when it is wrong.

MetaSchedule appends one line per record as it measures. A process killed while writing leaves
at most the last line cut short: `tune` cuts that line off and goes on (`repair_tail`); a bad
line anywhere else is an error. Records are refused when they were tuned for another target
(kind, CPU, triple, GPU arch or device): MetaSchedule itself would apply them to any target.
"""
from __future__ import annotations

import base64
import binascii
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError

WORKLOADS = "database_workload.json"
RECORDS = "database_tuning_record.json"
# The target attributes that make records of one target wrong (or slow) for another.
TARGET_KEYS = ("kind", "mcpu", "mtriple", "arch", "device")
FAILED_RUN_SECS = 1e9          # MetaSchedule records a failed build or run as 1e10 s


@dataclass
class DatabaseFiles:
    """What the two files of a database folder hold, checked line by line."""

    folder: Path
    workloads: int = 0                                      # workload lines
    records_per_workload: Counter = field(default_factory=Counter)
    valid_per_workload: Counter = field(default_factory=Counter)
    targets: list[dict] = field(default_factory=list)       # distinct record targets
    truncated: dict[str, int] = field(default_factory=dict)  # file -> byte length of its whole lines

    @property
    def records(self) -> int:
        return sum(self.records_per_workload.values())


def _lines(path: Path):
    """(line number, text, whole, offset) for every line; `whole` is False for a last line with
    no newline (a write the process did not finish), `offset` where the line starts."""
    data = path.read_bytes()
    pos, n = 0, 0
    while pos < len(data):
        end = data.find(b"\n", pos)
        whole = end >= 0
        end = end if whole else len(data)
        n += 1
        yield n, data[pos:end].decode("utf-8", errors="replace"), whole, pos
        pos = end + 1


def _workload_ok(obj) -> bool:
    if not (isinstance(obj, list) and len(obj) == 2 and all(isinstance(x, str) for x in obj)):
        return False
    try:
        base64.b64decode(obj[1], validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _record_ok(obj, workloads: int) -> bool:
    if not (isinstance(obj, list) and len(obj) == 2 and isinstance(obj[0], int)
            and 0 <= obj[0] < workloads and isinstance(obj[1], list) and len(obj[1]) >= 4):
        return False
    trace, run_secs, target, args_info = obj[1][:4]
    return (isinstance(trace, list) and isinstance(run_secs, list) and run_secs
            and all(isinstance(s, (int, float)) for s in run_secs)
            and isinstance(target, dict) and "kind" in target and isinstance(args_info, list))


def scan(folder, allow_truncated_tail: bool = False) -> DatabaseFiles:
    """Check every line of both files. A last line cut short is noted in `truncated` when
    `allow_truncated_tail`, an error otherwise; any other bad line is an error."""
    folder = Path(folder)
    out = DatabaseFiles(folder)
    seen = set()

    def parse(name: str, check):
        path = folder / name
        for n, text, whole, start in _lines(path):
            if not text.strip():
                continue
            try:
                obj = json.loads(text)
                ok = check(obj)
            except json.JSONDecodeError:
                obj, ok = None, False
            if ok:
                yield obj
                continue
            if not whole and allow_truncated_tail:
                out.truncated[name] = start
                return
            what = "workload" if name == WORKLOADS else "tuning record"
            tail = " (cut short: an interrupted tune? run `tvm-dsprune tune` on it again to repair it)" \
                if not whole else ""
            raise InputError(f"tuning records {folder}: line {n} of {name} is not a MetaSchedule "
                             f"{what}{tail}")

    for _ in parse(WORKLOADS, _workload_ok):
        out.workloads += 1
    for obj in parse(RECORDS, lambda o: _record_ok(o, out.workloads)):
        index, (_, run_secs, target, _args) = obj[0], obj[1][:4]
        out.records_per_workload[index] += 1
        if min(float(s) for s in run_secs) < FAILED_RUN_SECS:
            out.valid_per_workload[index] += 1
        key = json.dumps({k: target.get(k) for k in TARGET_KEYS}, sort_keys=True)
        if key not in seen:
            seen.add(key)
            out.targets.append(target)
    return out


def repair_tail(files: DatabaseFiles) -> list[str]:
    """Cut the last line a killed process left half-written off each file; the names cut."""
    for name, keep in files.truncated.items():
        with open(files.folder / name, "r+b") as f:
            f.truncate(keep)
    cut = sorted(files.truncated)
    files.truncated = {}
    return cut


def target_key(target: dict) -> dict:
    """The attributes of a target that records must match (missing ones as "")."""
    return {k: str(target.get(k, "")) for k in TARGET_KEYS}


def describe_target(target: dict) -> str:
    key = target_key(target)
    return " ".join([key["kind"]] + [f"-{k}={v}" for k, v in key.items() if k != "kind" and v])


def check_targets(files: DatabaseFiles, want: dict) -> None:
    """Refuse records tuned for another target than `want` (a target as Target.as_dict())."""
    need = target_key(want)
    for rec in files.targets:
        have = target_key(rec)
        for k in TARGET_KEYS:
            if have[k] != need[k]:
                raise InputError(f"tuning records in {files.folder} are for target {k}={have[k] or '(none)'!r}, "
                                 f"not {need[k] or '(none)'!r} ({describe_target(rec)}, this target is "
                                 f"{describe_target(want)}): tune for this target with `tvm-dsprune tune`, "
                                 "or leave these records out")


def check_folder(path) -> Path:
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise InputError(f"tuning records {folder}: is a file, not a database folder")
    return folder


def load(folder: Path, files: DatabaseFiles | None = None):
    """The JSONDatabase of a checked folder; a TVM failure to read it is one InputError."""
    from tvm.s_tir import meta_schedule as ms

    try:
        return ms.database.JSONDatabase(path_workload=str(folder / WORKLOADS),
                                        path_tuning_record=str(folder / RECORDS), allow_missing=False)
    except Exception as err:  # noqa: BLE001 - TVM raises RuntimeError/ValueError/TVMError here
        text = [ln.strip() for ln in str(err).strip().splitlines() if ln.strip()]
        raise InputError(f"tuning records {folder}: TVM cannot read this database: "
                         f"{text[-1] if text else type(err).__name__}") from None


def open_database(path, target):
    """A JSONDatabase for `path`, after checking every line and that its records were tuned
    for `target` (anything targets.resolve takes)."""
    from .. import targets

    folder = check_folder(path)
    if not (folder / WORKLOADS).is_file() or not (folder / RECORDS).is_file():
        raise InputError(f"tuning records {folder}: not a MetaSchedule database folder "
                         f"(needs {WORKLOADS} and {RECORDS})")
    files = scan(folder)
    check_targets(files, targets.resolve(target).as_dict())
    return load(folder, files)
