"""Ctrl-C must stop the work, wherever it lands.

An interrupt that arrives while TVM's C++ code runs a Python callback (a schedule rule inside a
pass) can come back as a TVM error rather than a KeyboardInterrupt, and a guard around a TVM
call that is expected to fail may catch it. The CLI runs every command under `handling()`: a
handler that remembers the interrupt, so code that guards TVM calls can tell an interrupt from
a failure (`reraise_if_interrupt`), output files are not committed once it arrived (`check`),
and the command ends as interrupted, not with a traceback or a different result.
"""
from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator

_interrupted = False


def _handler(signum, frame):
    global _interrupted
    _interrupted = True
    raise KeyboardInterrupt


def install() -> None:
    """Remember SIGINT (main thread only; elsewhere Python's default stays)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _handler)


@contextmanager
def handling() -> Iterator[None]:
    """Remember SIGINT for the duration of the block, then restore the previous handler and
    forget it (what runs after the block is not interrupted)."""
    global _interrupted
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _interrupted = False
    previous = signal.signal(signal.SIGINT, _handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        _interrupted = False


def interrupted(err: BaseException | None = None) -> bool:
    """True once SIGINT arrived, or when `err` is an interrupt TVM wrapped into its own error."""
    if _interrupted or isinstance(err, KeyboardInterrupt):
        return True
    return err is not None and "KeyboardInterrupt" in str(err)


def reraise_if_interrupt(err: BaseException) -> None:
    if interrupted(err):
        raise KeyboardInterrupt from None


def check() -> None:
    """Raise KeyboardInterrupt if SIGINT arrived, even where a guard swallowed it."""
    if _interrupted:
        raise KeyboardInterrupt
