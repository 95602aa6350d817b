"""Write several output files all-or-nothing.

Commands that produce more than one file (pruned model, masks, report, package) must not leave
a partial set behind when something fails half-way. Each file is written to a temporary name in
its destination folder and renamed into place only when every file has been written.
"""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .errors import InputError


class OutputSet:
    def __init__(self) -> None:
        self._pending: list[tuple[Path, Path]] = []

    def path(self, final: str | os.PathLike) -> Path:
        """A temporary path to write `final` to; it is renamed into place on commit."""
        final = Path(final)
        folder = final.parent if str(final.parent) else Path(".")
        if not folder.is_dir():
            raise InputError(f"{final}: folder {folder} does not exist")
        fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".partial", dir=folder)
        os.close(fd)
        self._pending.append((Path(tmp), final))
        return Path(tmp)

    def _commit(self) -> None:
        for tmp, final in self._pending:
            os.replace(tmp, final)
        self._pending.clear()

    def _discard(self) -> None:
        for tmp, _ in self._pending:
            tmp.unlink(missing_ok=True)
        self._pending.clear()


@contextmanager
def output_set() -> Iterator[OutputSet]:
    """`with output_set() as out: write(out.path("a.onnx")); ...` — all files appear, or none."""
    out = OutputSet()
    try:
        yield out
    except BaseException:
        out._discard()
        raise
    out._commit()
