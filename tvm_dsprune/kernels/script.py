"""TVMScript parsing, fast.

Parsing a `@T.prim_func` calls inspect.stack(), and inspect looks up the source file of every
frame by scanning every loaded module; for `<frozen ...>` frames that scan finds nothing and
costs the most. The sparse kernels are TVMScript built per layer shape, and MetaSchedule's
workers parse TVM's tensor intrinsics: `fast_inspect` answers those look-ups at once.
"""
from __future__ import annotations

import inspect


def fast_inspect() -> None:
    """Short-circuit inspect's source lookups for `<frozen ...>` frames."""
    if getattr(inspect, "_dsprune_fast", False):
        return
    orig_sourcefile, orig_module = inspect.getsourcefile, inspect.getmodule

    def getsourcefile(obj):
        try:
            fn = inspect.getfile(obj)
        except TypeError:
            return orig_sourcefile(obj)
        return None if fn.startswith("<frozen") else orig_sourcefile(obj)

    def getmodule(obj, _filename=None):
        if _filename is not None and _filename.startswith("<frozen"):
            return None
        if _filename is None and inspect.isframe(obj) and obj.f_code.co_filename.startswith("<frozen"):
            return None
        return orig_module(obj, _filename)

    inspect.getsourcefile, inspect.getmodule = getsourcefile, getmodule
    inspect._dsprune_fast = True
