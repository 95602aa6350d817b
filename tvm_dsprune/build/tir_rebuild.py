"""Rebuild a lowered TIR statement with some of its parts changed.

The CPU pipeline's own passes (stack_scratch.py, serial_small.py) each change one kind of
statement deep in a kernel. `rebuild` applies a function to the children of the statement kinds
that hold others (sequences, loops, branches, attributes) and makes a new node only where a
child changed; any other kind is returned whole, so its inside is left as it was (never wrong).
"""
from __future__ import annotations

from tvm.tirx import stmt as S


def rebuild(s, child, kind=None):
    """`s` with `child(c)` in place of each child statement c; a loop's kind becomes
    `kind(loop)` when given."""
    if isinstance(s, S.SeqStmt):
        seq = [child(x) for x in s.seq]
        return s if all(a.same_as(b) for a, b in zip(seq, s.seq)) else S.SeqStmt(seq, s.span)
    if isinstance(s, S.For):
        body = child(s.body)
        new_kind = kind(s) if kind is not None else s.kind
        if new_kind == s.kind and body.same_as(s.body):
            return s
        return S.For(s.loop_var, s.min, s.extent, new_kind, body, s.thread_binding, s.annotations, s.step, s.span)
    if isinstance(s, S.IfThenElse):
        then = child(s.then_case)
        other = child(s.else_case) if s.else_case is not None else None
        same = then.same_as(s.then_case) and (other is None or other.same_as(s.else_case))
        return s if same else S.IfThenElse(s.condition, then, other, s.span)
    if isinstance(s, S.AttrStmt):
        body = child(s.body)
        return s if body.same_as(s.body) else S.AttrStmt(s.node, s.attr_key, s.value, body, s.span)
    return s
