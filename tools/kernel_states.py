"""Why a kernel runs slower in the model than alone: replay a package's kernel calls and time
each kernel from controlled states.

    python tools/kernel_states.py PKG.tar [--rounds N] [--only SUBSTRING] [--json FILE]

The Relax VM's instrument hook records every kernel call of one run of the model with its
arguments (the planned storage, the constants). Each kernel k is then timed once per round from
each of these states (a single call, the clock taken around it):

  hot       right after two calls of its own (what `profile` calls "alone")
  model     right after kernels 0..k-1 replayed in order (the state the model leaves it in)
  own-out   the model's state, then one call of k on a spare input and its real output:
            its output lines written by its own threads first
  own-in    the model's state, then one call of k on its real input and a spare output
  warm-code the model's state, then one call of k on a spare input and a spare output: its
            code, weights and index arrays warm, its real input and output not

Each row prints the medians over the rounds; the last lines sum them per kind of kernel
(depthwise, other). Run it on a quiet machine; TVM_NUM_THREADS=1 in the environment shows the
same with one thread.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import numpy as np

STATES = ("hot", "model", "own-out", "own-in", "warm-code")


def record_calls(package: str):
    """The package's kernel calls of one run: (symbol, [arguments]) in order, and the functions."""
    import tvm

    from tvm_dsprune.bench.profile import record_calls as vm_calls
    from tvm_dsprune.runtime.session import LoadedModel

    model = LoadedModel(package)
    rng = np.random.default_rng(0)
    feed = {i.name: rng.standard_normal(i.shape).astype(np.float32) for i in model.package.inputs}
    _, calls, library = vm_calls(model, model._args(feed))
    kernels = [(s, a) for s, a in calls if not s.startswith("vm.") and library.implements_function(s, True)]
    functions = {s: library.get_function(s) for s, _ in kernels}
    spare = [(tvm.runtime.tensor(a[0].numpy()), tvm.runtime.tensor(a[-1].numpy())) for _, a in kernels]
    return kernels, functions, spare, model


def replay(kernels, functions) -> None:
    """Every kernel once, in the model's order (what the VM runs, without its own calls)."""
    for s, a in kernels:
        functions[s](*a)


def time_from(state: str, k: int, kernels, functions, spare) -> float:
    """Microseconds of one call of kernel k from `state`."""
    symbol, args = kernels[k]
    f = functions[symbol]
    x2, o2 = spare[k]
    if state == "hot":
        f(*args)
        f(*args)
    else:
        replay(kernels[:k], functions)
        if state == "own-out":
            f(*([x2] + args[1:-1] + [args[-1]]))
        elif state == "own-in":
            f(*(args[:-1] + [o2]))
        elif state == "warm-code":
            f(*([x2] + args[1:-1] + [o2]))
    t = time.perf_counter()
    f(*args)
    return (time.perf_counter() - t) * 1e6


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("package", help="a package from `tvm-dsprune compile` (.tar) for this CPU")
    p.add_argument("--rounds", type=int, default=11, help="timed calls per kernel and state (default 11)")
    p.add_argument("--only", default="", help="only kernels whose name holds this (default all)")
    p.add_argument("--json", help="write the medians as JSON")
    args = p.parse_args(argv)
    if args.rounds < 1:
        p.error("--rounds must be at least 1")
    kernels, functions, spare, model = record_calls(args.package)
    rows = []
    for k, (symbol, _) in enumerate(kernels):
        if k == 0 or args.only not in symbol:
            continue
        times = {s: [] for s in STATES}
        for _ in range(args.rounds):
            for s in STATES:                      # interleaved: a slow spell falls on every state
                times[s].append(time_from(s, k, kernels, functions, spare))
        row = {"index": k, "kernel": symbol, **{s: statistics.median(v) for s, v in times.items()}}
        rows.append(row)
        print(f"{k:3d} {symbol[:50]:50s} " + " ".join(f"{s}={row[s]:7.1f}" for s in STATES), flush=True)
    totals = {}
    for row in rows:
        kind = "depthwise" if "depthwise" in row["kernel"] else "other"
        sums = totals.setdefault(kind, {s: 0.0 for s in STATES})
        for s in STATES:
            sums[s] += row[s]
    for kind, sums in totals.items():
        print(f"sum of {kind} kernels (us): " + " ".join(f"{s}={v:.0f}" for s, v in sums.items()))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"package": args.package, "rounds": args.rounds, "kernels": rows, "totals": totals}, f, indent=1)
    model.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
