"""The `tvm-dsprune` command line: a thin layer over the package's functions.

Bad input (a file, a ratio, a method, a target) prints one `error:` line and exits 2.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

from . import __version__, interrupts
from .console import reader_safe_stdout
from .errors import CompileError, InputError
from .relax.layer_records import SPARSE_MODES

EPILOG_PRUNE = """\
methods (SPEC is NAME:RATIO, nm:N:M, or dense; RATIO in [0, 1)):
{methods}

examples:
  tvm-dsprune prune m.onnx -o p.onnx --dw dcp-bh:0.8 --pw filter-l2:0.5 --masks m.npz --report r.json
  tvm-dsprune prune m.onnx -o p.onnx --pw group-optimal:0.9 --group 1x4 --target mali
  tvm-dsprune prune m.onnx -o p.onnx --masks-in finetuned_masks.npz
  tvm-dsprune prune m.onnx -o p.onnx --preset cpu-sparse --target llvm
"""


def _presets() -> dict:
    from .pruning.presets import PRESETS, label

    return {k: label(v) for k, v in PRESETS.items()}


def _methods_help() -> str:
    from .pruning.methods import describe

    return "\n".join(f"  {name:<14} [{kinds}] {summary}" for name, kinds, summary in describe())


def add_zoo(sub) -> None:
    p = sub.add_parser("zoo", help="export a built-in model (seeded random weights) to ONNX",
                       description="Export a zoo model to ONNX with the TorchScript exporter "
                                   "(BatchNorm folded, batch dimension dynamic).")
    p.add_argument("name", nargs="?", help="model name (see --list)")
    p.add_argument("-o", "--output", help="ONNX file to write")
    p.add_argument("--list", action="store_true", help="list the models and exit")
    p.add_argument("--seed", type=int, default=0, help="weight seed (default 0)")
    p.add_argument("--resolution", type=int, help="input height = width (default: the model's)")
    p.set_defaults(func=cmd_zoo)


def cmd_zoo(args) -> int:
    from . import zoo

    if args.output and not args.name and not args.list:
        raise InputError(f"zoo: which model goes to {args.output}? give its name: {', '.join(zoo.MODELS)}")
    if args.list or not args.name:
        for e in zoo.MODELS.values():
            print(f"{e.name:<20} {e.resolution:>4}px  {e.description}")
        return 0
    if not args.output:
        raise InputError("zoo: give -o/--output FILE.onnx")
    entry = zoo.entry(args.name)
    res = args.resolution or entry.resolution
    if res < 8:
        raise InputError(f"--resolution {res} is too small (at least 8)")
    from .outputs import output_set

    with output_set(args.output) as out:
        zoo.export(entry.name, out.path(args.output), args.seed, res)
    print(f"wrote {args.output}: {entry.name}, input 1x3x{res}x{res} (batch dynamic), seed {args.seed}")
    return 0


def add_prune(sub) -> None:
    p = sub.add_parser("prune", help="the mask step: prune an ONNX model with GPU-aware methods",
                       description="Prune the convs and dense layers of an ONNX model. Pruned weights "
                                   "are zeroed; everything else is unchanged.",
                       epilog=EPILOG_PRUNE.format(methods=_methods_help()),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="ONNX model to prune")
    p.add_argument("-o", "--output", help="pruned ONNX model to write (omit for a dry run)")
    p.add_argument("--dw", metavar="SPEC", help="method for depthwise convs, e.g. dcp-bh:0.8")
    p.add_argument("--pw", metavar="SPEC", help="method for 1x1 convs, e.g. filter-l2:0.5")
    p.add_argument("--fc", metavar="SPEC", help="method for dense layers (Gemm/MatMul); same specs as --pw")
    p.add_argument("--conv", metavar="SPEC", help="method for other convs (kxk, groups 1); same specs as --pw")
    p.add_argument("--group", metavar="RxC", help="group shape for group-* methods (default: the target's)")
    p.add_argument("--balanced", action="store_true", default=None,
                   help="group-* methods keep the same number of groups in every row block")
    p.add_argument("--target", default="cuda",
                   help="target whose tile geometry sets DR group, HSR tile, group size (default cuda)")
    p.add_argument("--plan", metavar="JSON", help="plan file: kind specs and per-layer overrides")
    p.add_argument("--preset", metavar="NAME", help="a named plan: " + "; ".join(
        f"{k} = {v}" for k, v in _presets().items()))
    p.add_argument("--masks", metavar="NPZ", help="write the masks (True = kept) here")
    p.add_argument("--report", metavar="JSON", help="write the per-layer report here")
    p.add_argument("--masks-in", metavar="NPZ", help="apply these masks instead of running the methods")
    p.add_argument("--hsr-alpha", metavar="JSON", help="measured HSR alpha per DW layer (default: cost model)")
    p.add_argument("--prune-first", action="store_true", default=None, help="also prune the first conv")
    p.add_argument("--prune-last", action="store_true", default=None, help="also prune the last (classifier) layer")
    p.add_argument("--filter-feeding-dw", action="store_true", default=None,
                   help="let filter-* prune PW layers that feed a depthwise conv too")
    p.add_argument("-q", "--quiet", action="store_true", help="print only the summary")
    p.set_defaults(func=cmd_prune)


def cmd_prune(args) -> int:
    from .pruning.onnx_prune import prune
    from .pruning.report import format_table

    result = prune(args.model, args.output, dw=args.dw, pw=args.pw, fc=args.fc, conv=args.conv,
                   group=args.group, balanced=args.balanced, target=args.target, plan=args.plan,
                   preset=args.preset,
                   masks=args.masks, report=args.report, masks_in=args.masks_in,
                   prune_first=args.prune_first, prune_last=args.prune_last,
                   filter_feeding_dw=args.filter_feeding_dw, hsr_alpha=args.hsr_alpha)
    table = format_table(result.report)
    print(table if not args.quiet else table.split("\n\n", 1)[-1])
    for note in result.notes:
        print(f"note: {note}")
    sys.stdout.flush()
    for warning in result.warnings:
        print(f"tvm-dsprune prune: warning: {warning}", file=sys.stderr)
    written = [p for p in (args.output, args.masks, args.report) if p]
    print(f"wrote {', '.join(written)}" if written else "dry run: nothing written (give -o)")
    return 0


def add_targets(sub) -> None:
    p = sub.add_parser("targets", help="list the targets of the schedule collection and their tile geometry")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_targets)


def cmd_targets(args) -> int:
    from . import schedules

    specs = schedules.all_specs()
    if args.json:
        print(json.dumps([{"name": s.name, "aliases": list(s.aliases), "family": s.family, "target": s.target,
                           "geometry": s.geometry.as_dict(), "description": s.description} for s in specs], indent=1))
        return 0
    for s in specs:
        g = s.geometry
        print(f"{s.name:<14} {s.family:<7} DR group {g.dr_group:>2}, K tile {g.k_tile:>2}, "
              f"group {g.group[0]}x{g.group[1]}, tile rows {g.thread_rows}/{g.workgroup_rows}  {s.description}")
    return 0


def add_compile(sub) -> None:
    p = sub.add_parser("compile", help="compile a (pruned) ONNX model into a package for a target",
                       description="Import an ONNX model into Relax, turn its pruned layers into sparse "
                                   "kernels where the target's cost model says they win, schedule and "
                                   "build. The package is one .tar: the library plus meta.json. A CUDA "
                                   "package carries device code compiled here by nvcc (on PATH) for the "
                                   "target's arch: machine code for it and PTX for newer GPUs.")
    p.add_argument("model", help="ONNX model (pruned or not)")
    p.add_argument("-o", "--output", help="package to write (NAME.tar: library and meta.json, what `run` "
                                          "takes), or NAME.so for the bare shared library")
    p.add_argument("--target", default="llvm",
                   help="llvm (this CPU), cuda (sm_80), mali, another registered target, or a TVM target JSON "
                        "dict such as '{\"kind\": \"cuda\", \"arch\": \"sm_90\"}' (archs sm_75 to sm_121)")
    p.add_argument("--target-host", help="host of a GPU target: llvm, or a JSON dict (default: the target's own)")
    p.add_argument("--sparse", choices=SPARSE_MODES, default="auto",
                   help="auto: sparse where the cost model says it is faster (default); on: every pruned "
                        "layer; off: all dense (on a CPU, dense depthwise convs may run the plane kernel with every tap)")
    p.add_argument("--input-shape", action="append", metavar="NAME:SHAPE",
                   help="static input shape, e.g. input:1x3x224x224 (repeatable)")
    p.add_argument("--batch", type=int, default=1, help="value of a symbolic batch dimension (default 1)")
    p.add_argument("--cross-compiler", metavar="CC",
                   help="C++ compiler that links the code for a board, e.g. aarch64-linux-gnu-g++ (without it, "
                        "code for a board is packed as object files that the board links when it loads them)")
    p.add_argument("--cross-compiler-options", metavar="OPTS",
                   help="extra options for the cross compiler, one string, e.g. '-static-libstdc++'")
    p.add_argument("--tuning-records", metavar="DIR",
                   help="MetaSchedule database to apply (from `tvm-dsprune tune`); default: the databases "
                        "shipped in tuning_logs/ for this very target, if any")
    p.add_argument("--no-tuning-logs", action="store_true",
                   help="leave the shipped tuning databases out: the collection's schedules alone")
    p.add_argument("--report", metavar="JSON", help="write the per-layer compile report here")
    p.add_argument("-q", "--quiet", action="store_true", help="print only the summary")
    p.set_defaults(func=cmd_compile)


def cmd_compile(args) -> int:
    from .build.compile import compile
    from .build.report import format_report

    if args.batch < 1:
        raise InputError(f"--batch {args.batch}: must be at least 1")
    say = (lambda m: None) if args.quiet else (lambda m: print(f"... {m}", flush=True))
    if args.tuning_records and args.no_tuning_logs:
        raise InputError("--tuning-records and --no-tuning-logs: give one or the other")
    records = False if args.no_tuning_logs else args.tuning_records
    result = compile(args.model, args.target, args.output, sparse=args.sparse, input_shapes=args.input_shape,
                     batch=args.batch, target_host=args.target_host, cross_compiler=args.cross_compiler,
                     cross_compiler_options=args.cross_compiler_options, report=args.report,
                     tuning_records=records, progress=say)
    table = format_report(result.report)
    print(table if not args.quiet else table.split("\n\n")[-1])
    if result.package is not None and result.package.suffix == ".so":
        print(f"note: {result.package} is the bare library (tvm.runtime.load_module and relax.VirtualMachine); "
              "`tvm-dsprune run` takes a .tar package")
    written = [p for p in (args.output, args.report) if p]
    print(f"compiled in {result.meta['compile_seconds']} s; " +
          (f"wrote {', '.join(written)}" if written else "nothing written (give -o)"))
    return 0


def add_rpc_flags(p) -> None:
    g = p.add_argument_group("on a board over TVM RPC (TVM's RPC server runs on the board)")
    g.add_argument("--rpc-tracker", metavar="HOST:PORT", help="RPC tracker the board is registered with")
    g.add_argument("--rpc-key", metavar="KEY", help="the board's key at the tracker")
    g.add_argument("--rpc-host", metavar="HOST", help="a board's RPC server reached directly (no tracker)")
    g.add_argument("--rpc-port", metavar="PORT", type=int, help="its port")
    g.add_argument("--rpc-priority", type=int, default=1, help="priority in the tracker's queue (default 1)")
    g.add_argument("--rpc-session-timeout", type=float, default=0, metavar="S",
                   help="seconds the board gives the session before ending it (default 0: no limit)")
    g.add_argument("--rpc-wait", type=float, default=60, metavar="S",
                   help="seconds to wait for a busy board (default 60)")


def open_session(args):
    """The session the RPC flags name, or None for this machine."""
    if not any((args.rpc_tracker, args.rpc_key, args.rpc_host, args.rpc_port)):
        return None
    from .runtime import rpc

    return rpc.connect(args.rpc_tracker, args.rpc_key, args.rpc_host, args.rpc_port, priority=args.rpc_priority,
                       session_timeout=args.rpc_session_timeout, wait=args.rpc_wait)


EPILOG_TUNE = """\
The tasks are the fused functions `compile` schedules (same import, sparsify passes and fusion).
A task whose collection rule has knobs is tuned over them; every other task over MetaSchedule's
own space for the target (--space forces either). Each task's first trial measures the
collection's own schedule, so `compile` applies a tuned schedule only where one measured faster.
Trials go to the tasks by their share of the model's time (MetaSchedule's gradient scheduler),
with the XGBoost cost model; the database is TVM's JSON format, tagged with the target.

Resumable: running the same command again continues to --trials (the records already in DIR
count). Ctrl-C / SIGTERM stop after the batch being measured and keep every record.

examples:
  tvm-dsprune tune m.onnx --target llvm --trials 400 --tuning-records m-tuned/
  tvm-dsprune compile m.onnx --target llvm --tuning-records m-tuned/ -o m.tar
  tvm-dsprune tune m.onnx --trials 800 --tuning-records m-tuned/ --rpc-tracker 127.0.0.1:9190 --rpc-key cpu
  tvm-dsprune tune m.onnx --target '{"kind": "llvm", "mtriple": "aarch64-linux-gnu"}' --trials 400 \\
      --tuning-records board/ --rpc-tracker 10.0.0.2:9190 --rpc-key rk3399 --cross-compiler aarch64-linux-gnu-g++
"""


def add_tune(sub) -> None:
    from .tuning.space import SPACE_MODES

    p = sub.add_parser("tune", help="auto-tune a model's kernels with MetaSchedule into a database compile applies",
                       description="Tune every fused function of a (pruned) ONNX model for a target with "
                                   "MetaSchedule (evolutionary search, XGBoost cost model) and write the "
                                   "measured schedules to a MetaSchedule JSON database.",
                       epilog=EPILOG_TUNE, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="ONNX model (pruned or not)")
    p.add_argument("--target", default="llvm", help="llvm (this CPU), another registered target, or a TVM target JSON dict")
    p.add_argument("--target-host", help="host of a GPU target (as for compile)")
    p.add_argument("--trials", type=int, required=True, help="trials the database must hold for this model (in all)")
    p.add_argument("--tuning-records", metavar="DIR", required=True,
                   help="database folder: created, or continued when it holds records for this target")
    p.add_argument("--sparse", choices=SPARSE_MODES, default="auto", help="as for compile (the same kernels are tuned)")
    p.add_argument("--input-shape", action="append", metavar="NAME:SHAPE", help="as for compile")
    p.add_argument("--batch", type=int, default=1, help="as for compile")
    p.add_argument("--space", choices=SPACE_MODES, default="auto",
                   help="auto: a collection rule's knobs where it has some, else MetaSchedule's space; "
                        "collection or metaschedule: that one for every task")
    p.add_argument("--trials-per-task", type=int, metavar="N", help="at most N trials per task")
    p.add_argument("--trials-per-round", type=int, metavar="N", help="batch size (default: from --trials and the tasks)")
    p.add_argument("--time-budget", type=float, metavar="MINUTES", help="stop after this long (run again to continue)")
    p.add_argument("--rpc-tracker", metavar="HOST:PORT", help="measure on the boards of this TVM RPC tracker")
    p.add_argument("--rpc-key", metavar="KEY", help="the key the boards registered with")
    p.add_argument("--rpc-workers", type=int, metavar="N", help="measurements at once (default: the servers with the key)")
    p.add_argument("--cross-compiler", metavar="CC", help="C++ compiler that links candidates for a board of another architecture")
    p.add_argument("--builders", type=int, metavar="N", help="local build processes (default: the CPUs)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--json", metavar="FILE", help="write the per-task summary and the tuning curve as JSON")
    p.add_argument("--plot", metavar="PNG", help="draw the tuning curve: the model's kernel time against the "
                                                 "minutes of this run")
    p.set_defaults(func=cmd_tune)


def cmd_tune(args) -> int:
    from .tuning.tune import tune, write_summary

    if args.batch < 1:
        raise InputError(f"--batch {args.batch}: must be at least 1")
    if args.time_budget is not None and args.time_budget <= 0:
        raise InputError(f"--time-budget {args.time_budget}: must be positive (minutes)")
    from . import plots
    from .outputs import output_set

    # The summary files are checked before the tuning and written after it, also when a signal
    # stopped the run (tune returns normally then, every record kept).
    with output_set(args.json, args.plot) as out:
        result = tune(args.model, args.target, args.trials, args.tuning_records, sparse=args.sparse,
                      input_shapes=args.input_shape, batch=args.batch, target_host=args.target_host,
                      space=args.space, rpc_tracker=args.rpc_tracker, rpc_key=args.rpc_key,
                      rpc_workers=args.rpc_workers, cross_compiler=args.cross_compiler,
                      trials_per_task=args.trials_per_task,
                      time_budget=args.time_budget * 60 if args.time_budget else None,
                      trials_per_round=args.trials_per_round, builders=args.builders, seed=args.seed,
                      progress=lambda m: print(m, flush=True))
        if args.json:
            write_summary(result, out.path(args.json))
        if args.plot:
            plots.tuning_curve(result.curve, out.path(args.plot),
                               title=f"{os.path.basename(args.model)}: {result.trials} trials, {result.new} in this run")
    if result.stopped and result.stopped.startswith("stopped by"):
        return 130
    return 0


def add_run(sub) -> None:
    p = sub.add_parser("run", help="run a compiled package (here or on a board over RPC); print outputs and latency",
                       description="Run a package on this machine, or on a board over TVM RPC: the library is "
                                   "uploaded, loaded and run there, outputs come back, and the latency is measured "
                                   "on the board.")
    p.add_argument("package", help="package from `tvm-dsprune compile`")
    p.add_argument("--inputs", metavar="NPZ", help="input arrays by name (default: seeded random normal)")
    p.add_argument("--outputs", metavar="NPZ", help="write the outputs here")
    p.add_argument("--device", choices=("cpu", "cuda", "opencl"), help="default: the package target's device")
    p.add_argument("--repeat", type=int, default=10, help="timed repetitions for the median (0: no timing)")
    p.add_argument("--compare-onnx", metavar="ONNX",
                   help="also run this model in onnxruntime (on this machine) on the same inputs; fail "
                        "(exit 1) unless every output value is within atol + rtol*|reference|, as "
                        "numpy.allclose")
    p.add_argument("--rtol", type=float, help="relative tolerance of --compare-onnx (default 1e-4)")
    p.add_argument("--atol", type=float, help="absolute tolerance of --compare-onnx (default 1e-5)")
    add_rpc_flags(p)
    p.set_defaults(func=cmd_run)


def cmd_run(args) -> int:
    import numpy as np

    from .runtime.run import ATOL, RTOL, run

    if args.repeat < 0:
        raise InputError(f"--repeat {args.repeat}: must be >= 0")
    if (args.rtol is not None or args.atol is not None) and not args.compare_onnx:
        raise InputError("--rtol and --atol are the tolerances of --compare-onnx; give the ONNX model too")
    session = open_session(args)
    try:
        result = run(args.package, args.inputs, device=args.device, repeat=args.repeat, outputs=args.outputs,
                     compare_onnx=args.compare_onnx, rtol=RTOL if args.rtol is None else args.rtol,
                     atol=ATOL if args.atol is None else args.atol, session=session)
    finally:
        if session is not None:
            session.close()
    for note in result.notes:
        print(f"note: {note}")
    for name, y in result.outputs.items():
        line = (f"{name}: shape {list(y.shape)} {y.dtype}, min {y.min():.4g}, max {y.max():.4g}, "
                f"mean {y.mean():.4g}")
        if y.ndim == 2 and y.shape[1] > 1:
            line += f", top-5 of row 0: {np.argsort(-y[0])[:5].tolist()}"
        print(line)
    for name, c in result.comparisons.items():
        print(f"{name}: matches onnxruntime: {c.describe()}")
    if result.latency_ms:
        lat = result.latency_ms
        print(f"median latency {result.median_ms:.3f} ms over {len(lat)} runs (min {min(lat):.3f} ms)"
              + (f", measured on {session.name}" if session is not None else ""))
    if args.outputs:
        print(f"wrote {args.outputs}")
    return 0


def add_bench(sub) -> None:
    p = sub.add_parser("bench", help="dense vs pruned, per depthwise layer and end to end (this CPU, or a board "
                                     "over RPC)",
                       description="Time dense vs pruned. On this CPU: every depthwise layer, and whole zoo models "
                                   "beside onnxruntime. On a board over RPC (--rpc-tracker/--rpc-key or "
                                   "--rpc-host/--rpc-port, with --target): whole zoo models built for the board, "
                                   "checked against onnxruntime (run here) and timed on the board, TVM dense vs "
                                   "TVM pruned.")
    p.add_argument("--models", default="mobilenet_v2,efficientnet_b0", help="models for the per-layer DW table")
    p.add_argument("--e2e-models", default="mobilenet_v2,mobilenet_v3_small,efficientnet_b0",
                   help="models for the end-to-end table")
    p.add_argument("--no-layers", action="store_true", help="skip the per-layer table")
    p.add_argument("--no-e2e", action="store_true", help="skip the end-to-end table")
    p.add_argument("--presets", default="deprune-bh,cpu-sparse",
                   help="pruning presets for the end-to-end table: " +
                        "; ".join(f"{k} = {v}" for k, v in _presets().items()))
    p.add_argument("--tuning-records", metavar="DIR", help="MetaSchedule database for the TVM builds")
    p.add_argument("--untuned", action="store_true",
                   help="also time untuned builds (no tuning records) beside the tuned ones (this CPU)")
    p.add_argument("--target", default="llvm", help="target of the builds (default llvm, this CPU; with a board: "
                                                    "its target, e.g. aarch64-cpu or mali)")
    p.add_argument("--cross-compiler", metavar="CC", help="C++ compiler that links the code for the board")
    p.add_argument("--rounds", type=int, default=5, help="timing rounds per measurement (default 5)")
    p.add_argument("--json", metavar="FILE", help="write all results as JSON")
    p.add_argument("--markdown", metavar="FILE", help="write the tables as markdown")
    add_rpc_flags(p)
    p.set_defaults(func=cmd_bench)


def cmd_bench(args) -> int:
    from . import zoo
    from .bench import suite
    from .pruning.presets import preset

    models = [m for m in args.models.split(",") if m]
    e2e = [m for m in args.e2e_models.split(",") if m]
    for m in models + e2e:
        zoo.entry(m)
    if args.rounds < 1:
        raise InputError("--rounds must be at least 1")
    presets = [p for p in args.presets.split(",") if p]
    for name in presets:
        preset(name)
    from . import targets
    from .outputs import output_set

    target = targets.resolve(args.target)
    with output_set(args.json, args.markdown) as out:
        session = open_session(args)
        if session is None and target.is_cross:
            raise InputError(f"--target {args.target} is for another machine: give the board "
                             "(--rpc-tracker HOST:PORT --rpc-key KEY, or --rpc-host/--rpc-port)")
        try:
            board_arch = session.arch() if session is not None else None
            if board_arch and board_arch != target.code_arch:
                raise InputError(f"--target {args.target} builds {target.code_arch} code; {session.name} is "
                                 f"{board_arch}: give the board's target (e.g. --target aarch64-cpu or mali)")
            result = suite.run_bench([zoo.entry(m).name for m in models], [zoo.entry(m).name for m in e2e],
                                     layers=not args.no_layers, end_to_end=not args.no_e2e, rounds=args.rounds,
                                     say=lambda m: print(m, flush=True), presets=presets,
                                     tuning_records=args.tuning_records, target=args.target,
                                     cross_compiler=args.cross_compiler, session=session, untuned=args.untuned)
        finally:
            if session is not None:
                session.close()
        print()
        print(suite.markdown(result))
        suite.save(result, args.json and out.path(args.json), args.markdown and out.path(args.markdown))
    return 0


def add_profile(sub) -> None:
    p = sub.add_parser("profile", help="time every kernel of a package inside the model, beside "
                                       "onnxruntime's per-node profile of the ONNX model",
                       description="Where the time goes: each kernel the Relax VM calls, timed inside the model "
                                   "(VM instrument) and alone on the same arguments, by layer with its MACs and "
                                   "GFLOP/s; the VM's own calls and "
                                   "tensor allocations; and onnxruntime's own profile of the same model.")
    p.add_argument("package", help="package from `tvm-dsprune compile`")
    p.add_argument("--onnx", metavar="ONNX", help="the model the package was compiled from (MACs, onnxruntime)")
    p.add_argument("--rounds", type=int, default=30, help="runs to take medians over (default 30)")
    p.add_argument("--json", metavar="FILE", help="write the profile as JSON")
    p.add_argument("--markdown", metavar="FILE", help="write the tables as markdown")
    p.add_argument("--plot", metavar="PNG", help="draw each layer's time against onnxruntime's (needs --onnx)")
    p.set_defaults(func=cmd_profile)


def cmd_profile(args) -> int:
    from .bench import profile

    if args.rounds < 1:
        raise InputError("--rounds must be at least 1")
    if args.plot and not args.onnx:
        raise InputError("--plot draws each layer against onnxruntime: give the model with --onnx")
    from . import plots
    from .outputs import output_set

    with output_set(args.json, args.markdown, args.plot) as out:
        result = profile.profile(args.package, args.onnx, args.rounds, say=lambda m: print(f"... {m}", flush=True))
        text = profile.markdown(result)
        print(text)
        if args.json:
            out.path(args.json).write_text(json.dumps(result, indent=1))
        if args.markdown:
            out.path(args.markdown).write_text(text + "\n")
        if args.plot:
            plots.layer_ratios(result["layers"], out.path(args.plot),
                               title=f"{os.path.basename(args.package)}: time per layer against onnxruntime "
                                     "(below 1: TVM faster)")
    return 0


def add_demo(sub) -> None:
    p = sub.add_parser("demo", help="the main job: MobileNet-V2 pruned with DEPrune-BH and with the CPU "
                                    "sparse preset, compiled dense and pruned for this CPU, checked against "
                                    "onnxruntime, timed")
    p.add_argument("--workdir", default="dsprune-demo", help="folder for the demo's files (default ./dsprune-demo)")
    p.add_argument("--model", default="mobilenet_v2", help="zoo model (default mobilenet_v2)")
    p.add_argument("--rounds", type=int, default=5, help="timing rounds (default 5)")
    p.set_defaults(func=cmd_demo)


def cmd_demo(args) -> int:
    from . import zoo
    from .bench.demo import run_demo

    result = run_demo(args.workdir, zoo.entry(args.model).name, args.rounds, say=lambda m: print(m, flush=True))
    return 0 if result["ok"] else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tvm-dsprune",
                                     description="GPU-aware pruning of depthwise-separable CNNs, "
                                                 "compiled to sparse kernels with Apache TVM.")
    parser.add_argument("--version", action="version", version=f"tvm-dsprune {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in (add_demo, add_zoo, add_prune, add_compile, add_tune, add_run, add_bench, add_profile, add_targets):
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command. Bad input: one line, exit 2; a limit of the compiler or a failed check:
    one line, exit 1; Ctrl-C: exit 130, no output file written; a reader that closes stdout
    (`| head -1`) does not stop the work."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    with interrupts.handling(), reader_safe_stdout():
        try:
            status = args.func(args)
            interrupts.check()          # an interrupt a guard swallowed still ends the command
            return status
        except BaseException as err:    # noqa: BLE001 - sorted below; anything else is re-raised
            return _failure(args.command, err)


def _failure(command: str, err: BaseException) -> int:
    """The exit status of a command that raised `err`, after its one line on stderr."""
    prefix = f"tvm-dsprune {command}"
    if interrupts.interrupted(err):
        print(f"{prefix}: interrupted", file=sys.stderr)
        return 130
    if isinstance(err, InputError):
        print(f"{prefix}: error: {err}", file=sys.stderr)
        return 2
    if isinstance(err, CompileError):
        print(f"{prefix}: error: {err}", file=sys.stderr)
        return 1
    if isinstance(err, OSError) and not isinstance(err, BrokenPipeError):
        print(f"{prefix}: error: {err}", file=sys.stderr)
        return 1
    raise err


if __name__ == "__main__":
    sys.exit(main())
