"""Tuning tasks of a model: the fused functions `compile` would schedule, as MetaSchedule sees them.

The tasks come from the one lowering path (relax.lowering.lower, stopped after "fuse"): the same
import, sparsify passes and fusion as a build, so every workload tuned here is one a build looks
up. MetaSchedule's extractor keys a task on the function's structure (one task for identical
layers, weighted by their number).

A task is measured on the arguments of its first call in `main`: the model's constants as they
are (weights, biases; a sparse kernel's format arrays: row pointers, column indices, kept
values), random normal activations, zero outputs. Not on MetaSchedule's own random fill: a
sparse kernel would read out of bounds on random indices, and values of 1 to 10 everywhere put
a SiLU epilogue on inputs the model never gives it (its dense 1x1 convs measured up to 1.7x
slower than on the model's weights and unit-scale activations).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class TuningTask:
    name: str                       # the fused function (its first call site's name)
    mod: object = field(repr=False)  # the workload: IRModule {"main": normalized PrimFunc}
    weight: int                     # calls of this workload in the model
    layers: list[str]               # the layers those calls compute (when known)
    arrays: list | None = field(default=None, repr=False)   # measurement arguments, or None: random
    flops: float = 1.0              # TVM's estimate (1 where loops depend on data)
    untunable: str | None = None    # why MetaSchedule's task scheduler cannot take it (None: it can)
    sparse: bool = False            # its call passes a sparse format (integer constants)

    @property
    def func(self):
        return self.mod["main"]

    @property
    def label(self) -> str:
        shown = ", ".join(self.layers[:2]) + (f" +{len(self.layers) - 2}" if len(self.layers) > 2 else "")
        return f"{self.name}" + (f" ({shown})" if shown else "")


def _numpy(expr):
    import tvm

    return expr.value.numpy() if isinstance(expr, tvm.ir.Constant) else None


def call_arguments(call, rng) -> tuple[list[np.ndarray], bool]:
    """The arguments a call_tir passes (constants as they are, random activations, zero
    outputs), and whether any constant is an integer array (a sparse format)."""
    from tvm import relax

    args, indexed = [], False
    for arg in call.args[1].fields:
        ty = arg.ty
        shape = tuple(int(d) for d in ty.shape)
        dtype = str(ty.dtype)
        value = _numpy(arg)
        if value is not None:
            indexed = indexed or value.dtype.kind in "iu"
            args.append(np.ascontiguousarray(value.reshape(shape)))
            continue
        args.append(rng.standard_normal(shape).astype(dtype) if dtype.startswith("float")
                    else np.zeros(shape, dtype))
    outs = call.ty_args if len(call.ty_args) else [call.ty]
    for ty in outs:
        tys = list(ty.fields) if isinstance(ty, relax.TupleType) else [ty]
        for t in tys:
            args.append(np.zeros(tuple(int(d) for d in t.shape), str(t.dtype)))
    return args, indexed


def extract(low, seed: int = 0) -> list[TuningTask]:
    """The tuning tasks of a module lowered to the "fuse" stage (relax.lowering.Lowered)."""
    import tvm
    import tvm_ffi
    from tvm.s_tir import meta_schedule as ms

    from ..relax.layer_records import kernel_calls

    tvm_target = low.target.tvm()
    extracted = ms.relax_integration.extract_tasks(low.mod, tvm_target)
    layer_of = {}
    for k in kernel_calls(low.mod):
        if k["layer"]:
            layer_of.setdefault(k["kernel"], []).append(k["layer"])
    normalize = tvm.get_global_func("tvm.s_tir.meta_schedule.normalize_mod")
    call_tir = tvm.ir.Op.get("relax.call_tir")
    by_hash: dict[int, list] = {}
    for block in low.mod["main"].body.blocks:
        for binding in block.bindings:
            v = binding.value
            if isinstance(v, tvm.relax.Call) and v.op.same_as(call_tir):
                mod = normalize(low.mod[v.args[0]])
                by_hash.setdefault(tvm_ffi.structural_hash(mod), []).append((mod, v))
    rng = np.random.default_rng(seed)
    tasks = []
    for t in extracted:
        mod = t.dispatched[0]
        calls = [c for m, c in by_hash.get(tvm_ffi.structural_hash(mod), ()) if tvm_ffi.structural_equal(m, mod)]
        layers = []
        for c in calls:
            layers += [x for x in layer_of.get(c.args[0].name_hint, []) if x not in layers]
        arrays, indexed = None, False
        if calls:
            args, indexed = call_arguments(calls[0], rng)
            infos = ms.arg_info.ArgInfo.from_prim_func(mod["main"])
            if len(args) == len(infos):   # shaped as the function's parameters (a scalar may come as (1,))
                arrays = [a.reshape(tuple(int(d) for d in info.as_json()[2])) for a, info in zip(args, infos)]
        flops, untunable = _flops(mod)
        tasks.append(TuningTask(t.task_name, mod, int(t.weight), layers, arrays, flops, untunable, indexed))
    # The heaviest first: the scheduler's first round goes through the tasks in this order.
    return sorted(tasks, key=lambda t: -t.flops * t.weight)


def _flops(mod) -> tuple[float, str | None]:
    """TVM's flop estimate of a task, and why it has none. MetaSchedule's task scheduler makes the
    same estimate of every task it is given and stops the whole run where it fails: a
    let-bound expression is one it cannot count (relax/fast_math.py writes its sigmoid without
    them for this reason)."""
    from tvm.s_tir.analysis import estimate_tir_flops

    try:
        return max(1.0, float(estimate_tir_flops(mod))), None
    except Exception as err:  # noqa: BLE001 - TVM's InternalError: an expression kind it does not count
        lines = str(err).strip().splitlines()
        why = lines[-1] if lines else type(err).__name__
        if "prim.Let" in why:
            why = "its fused epilogue holds a let-bound expression, whose flops MetaSchedule cannot count"
        return 1.0, why
