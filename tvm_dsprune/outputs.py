"""Write several output files all-or-nothing, and check them before the work.

Commands that produce more than one file (pruned model, masks, report, package) must not leave
a partial set behind when something fails half-way, and must not fail on an unwritable output
after minutes of work. `output_set(a, b, ...)` checks every path it is given before the body
runs and creates each file's temporary twin (`.NAME.XXXX.partial`) in the destination folder
right away, so an unwritable folder, a folder named as a file or a read-only file is one
InputError before any work. The body writes the temporary files; they are renamed into place
only when the body ends without an error and without an interrupt (Ctrl-C), else removed.

Files are created the way `open()` creates them: mode 0666 less the umask, or the mode of the
file they replace.
"""
from __future__ import annotations

import errno
import os
import secrets
import stat
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from . import interrupts
from .errors import InputError


def _destination(final: Path) -> Path:
    """Where the file lands: through a symlink to its target, as open() writes."""
    return Path(os.path.realpath(final)) if final.is_symlink() else final


def _check(final: Path) -> None:
    """InputError if `final` cannot be a new or replaced regular file."""
    folder = final.parent
    if not folder.exists():
        raise InputError(f"{final}: folder {folder} does not exist")
    if not folder.is_dir():
        raise InputError(f"{final}: {folder} is not a folder")
    if final.is_dir():
        raise InputError(f"{final} is a folder; give a file name")
    if final.exists():
        st = final.stat()
        if not stat.S_ISREG(st.st_mode):
            raise InputError(f"{final} exists and is not a regular file")
        # root may write anything; a file without write permission is still meant to stay
        if not os.access(final, os.W_OK) or not st.st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
            raise InputError(f"{final} exists and is read-only; remove it or write elsewhere")


def _create_twin(final: Path) -> Path:
    """Create the temporary file next to `final` (umask respected, or `final`'s mode)."""
    for _ in range(100):
        tmp = final.parent / f".{final.name}.{secrets.token_hex(4)}.partial"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        except OSError as err:
            raise InputError(f"{final}: cannot write in {final.parent} ({err.strerror})") from None
        try:
            if final.exists():
                os.fchmod(fd, stat.S_IMODE(final.stat().st_mode))
        finally:
            os.close(fd)
        return tmp
    raise InputError(f"{final}: cannot create a temporary file in {final.parent}")   # pragma: no cover


class OutputSet:
    def __init__(self) -> None:
        self._pending: dict[Path, Path] = {}      # final -> temporary file

    def reserve(self, final: str | os.PathLike | None) -> None:
        """Check `final` and create its temporary file now (None: nothing to do)."""
        if final is None:
            return
        given = Path(final)
        dest = _destination(given)
        key = Path(os.path.abspath(dest))
        if key in self._pending:
            raise InputError(f"{given} is given as more than one output")
        _check(dest)
        self._pending[key] = _create_twin(dest)

    def path(self, final: str | os.PathLike) -> Path:
        """The temporary path to write `final` to; it is renamed into place on commit."""
        key = Path(os.path.abspath(_destination(Path(final))))
        if key not in self._pending:
            self.reserve(final)
        return self._pending[key]

    def _commit(self) -> None:
        interrupts.check()
        for final, tmp in self._pending.items():
            try:
                os.replace(tmp, final)
            except OSError as err:
                raise InputError(f"{final}: cannot be written ({err.strerror or errno.errorcode.get(err.errno)})") \
                    from None
        self._pending.clear()

    def _discard(self) -> None:
        for tmp in self._pending.values():
            tmp.unlink(missing_ok=True)
        self._pending.clear()


@contextmanager
def output_set(*finals: str | os.PathLike | None) -> Iterator[OutputSet]:
    """`with output_set("a.onnx", report) as out: ...work...; write(out.path("a.onnx"))` — the
    paths given are checked before the work (None entries are skipped); all files appear, or
    none."""
    out = OutputSet()
    try:
        for final in finals:
            out.reserve(final)
        yield out
        out._commit()
    except BaseException:
        out._discard()
        raise
