"""The command line's standard output, when its reader goes away.

`tvm-dsprune compile ... | head -1` closes the pipe after one line. What a command prints is a
log of its work, not its product (the files are), so the work goes on: once the reader is gone,
stdout becomes /dev/null (also for the interpreter's last flush) instead of raising
BrokenPipeError in the middle of a compile.
"""
from __future__ import annotations

import io
import os
import sys
from contextlib import contextmanager, redirect_stdout
from typing import Iterator


class ReaderSafeStdout(io.TextIOBase):
    """A text stream over `stream` that drops everything once its reader has gone."""

    def __init__(self, stream) -> None:
        super().__init__()
        self._stream = stream
        self.reader_gone = False

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if not self.reader_gone:
            try:
                self._stream.write(text)
            except BrokenPipeError:
                self._silence()
        return len(text)

    def flush(self) -> None:
        if not self.reader_gone:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self._silence()

    def isatty(self) -> bool:
        return not self.reader_gone and self._stream.isatty()

    @property
    def encoding(self):
        return getattr(self._stream, "encoding", "utf-8")

    def fileno(self) -> int:
        return self._stream.fileno()

    def __getattr__(self, name):          # buffer, errors, ...: the wrapped stream's
        return getattr(self._stream, name)

    def _silence(self) -> None:
        self.reader_gone = True
        try:
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, self._stream.fileno())
            os.close(null)
        except (OSError, ValueError, io.UnsupportedOperation):
            pass                  # not a file descriptor (a test's capture): nothing to redirect


@contextmanager
def reader_safe_stdout() -> Iterator[ReaderSafeStdout]:
    """Run a command with stdout that survives its reader; flushed at the end."""
    out = ReaderSafeStdout(sys.stdout)
    try:
        with redirect_stdout(out):
            yield out
    finally:
        out.flush()
