"""MetaSchedule's worker processes, started fast.

MetaSchedule's builder workers import tvm.s_tir.tensor_intrin, which takes about a minute on a
small machine (it parses TVMScript; see kernels/script.py) and counts against the build
timeout. `init_worker` runs it, with `fast_inspect`, before any timeout starts.
"""
from __future__ import annotations

from ..kernels.script import fast_inspect


def init_worker() -> None:
    """MetaSchedule builder/runner worker initializer (runs before any timeout)."""
    fast_inspect()
    import tvm.s_tir.tensor_intrin  # noqa: F401  (the import is the point)
