"""Shipped databases are stored gzip-compressed (TVM's JSON workloads are pretty-printed IR in
base64, ~200 KB a kernel; compressed they shrink about 20x) and unpacked, once per content,
into the user's cache, where TVM's JSONDatabase reads them. A folder tuned in place keeps the
plain files (`tune` appends to them); `pack` turns it into the shipped form."""
from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from .database import RECORDS, WORKLOADS

FILES = (WORKLOADS, RECORDS)
GZ = ".gz"


def is_packed(folder: Path) -> bool:
    return all((Path(folder) / (name + GZ)).is_file() for name in FILES)


def has_database(folder: Path) -> bool:
    """Both files, plain or packed."""
    folder = Path(folder)
    return is_packed(folder) or all((folder / name).is_file() for name in FILES)


def pack(folder: Path) -> None:
    """Plain files -> .gz (deterministic: no name or time in the gzip header), plain removed."""
    folder = Path(folder)
    for name in FILES:
        data = (folder / name).read_bytes()
        with open(folder / (name + GZ), "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", filename="",
                                                                    mtime=0, compresslevel=9) as gz:
            gz.write(data)
        (folder / name).unlink()


def unpack_in_place(folder: Path) -> None:
    """.gz -> plain files in the same folder (to tune it further), .gz removed."""
    folder = Path(folder)
    if not is_packed(folder):
        return
    for name in FILES:
        (folder / name).write_bytes(gzip.decompress((folder / (name + GZ)).read_bytes()))
        (folder / (name + GZ)).unlink()


def readable(folder: Path) -> Path:
    """A folder with the plain files of `folder`'s database: itself, or its unpacked copy in the
    cache ($XDG_CACHE_HOME or ~/.cache, tvm-dsprune/tuning_logs/<content hash>)."""
    folder = Path(folder)
    if not is_packed(folder):
        return folder
    digest = hashlib.sha256()
    for name in FILES:
        digest.update((folder / (name + GZ)).read_bytes())
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tvm-dsprune" / "tuning_logs"
    target = cache / f"{folder.name}-{digest.hexdigest()[:16]}"
    if all((target / name).is_file() for name in FILES):
        return target
    try:
        cache.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=".unpack-", dir=cache))
    except OSError:                               # no writable cache: a private temporary copy
        target = work = Path(tempfile.mkdtemp(prefix="tvm-dsprune-tuning-logs-"))
    for name in FILES:
        (work / name).write_bytes(gzip.decompress((folder / (name + GZ)).read_bytes()))
    if work != target:
        try:
            os.replace(work, target)
        except OSError:                           # another process unpacked it first
            shutil.rmtree(work, ignore_errors=True)
    return target
