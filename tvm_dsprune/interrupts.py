"""Ctrl-C must stop the work, wherever it lands.

An interrupt that arrives while TVM's C++ code runs a Python callback (a schedule rule inside a
pass) can come back as a TVM error rather than a KeyboardInterrupt. The CLI installs a handler
that remembers the interrupt, so code that guards TVM calls can tell an interrupt from a failure
(`reraise_if_interrupt`) and the command ends as interrupted, not with a traceback or a
different result.
"""
from __future__ import annotations

import signal
import threading

_interrupted = False


def _handler(signum, frame):
    global _interrupted
    _interrupted = True
    raise KeyboardInterrupt


def install() -> None:
    """Remember SIGINT (main thread only; elsewhere Python's default stays)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _handler)


def interrupted(err: BaseException | None = None) -> bool:
    """True once SIGINT arrived, or when `err` is an interrupt TVM wrapped into its own error."""
    if _interrupted or isinstance(err, KeyboardInterrupt):
        return True
    return err is not None and "KeyboardInterrupt" in str(err)


def reraise_if_interrupt(err: BaseException) -> None:
    if interrupted(err):
        raise KeyboardInterrupt from None
