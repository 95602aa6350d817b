"""tune(): a whole model tuned with MetaSchedule into a JSON database that `compile` applies.

    relax.lowering.lower(..., stop_after="fuse") -> tasks (tasks.py) -> design spaces (space.py)
    -> MetaSchedule: evolutionary search + XGBoost, our task scheduler (scheduler.py), builds in
       long-lived local workers, measurements here or on an RPC tracker's boards
    -> database_workload.json + database_tuning_record.json (TVM's own format)

The run is resumable: it counts the records the folder already holds for the model's tasks and
measures only what is missing to reach `trials`. SIGINT / SIGTERM stop it after the batch being
measured (a second one stops it at once); every committed record stays, and a killed process
leaves at most a half-written last line, which the next run cuts off.
"""
from __future__ import annotations

import json
import shutil
import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import CompileError, InputError


@dataclass
class TuneResult:
    records: Path
    total: int                        # the trial total asked for
    trials: int                       # records of the model's tasks in the database now
    new: int                          # records this run added
    seconds: float
    stopped: str | None               # why the run stopped before the total (None: it did not)
    tasks: list[dict] = field(default_factory=list)
    curve: list[dict] = field(default_factory=list)   # per batch: seconds, trials, model_ms, collection_ms
    retried: int = 0                  # RPC measurements measured again after a server was lost
    skipped: list[dict] = field(default_factory=list)  # tasks MetaSchedule cannot take: keep the rules

    @property
    def complete(self) -> bool:
        return self.trials >= self.total


def _check_positive(name: str, value, allow_none: bool = True):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise InputError(f"{name} {value!r}: must be a positive number")
    return value


def check_trials(trials) -> int:
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise InputError(f"--trials {trials!r}: must be a whole number of at least 1")
    return trials


@contextmanager
def _stop_on_signals(budget, say):
    """SIGINT / SIGTERM: the first asks the run to stop after the batch being measured, a second
    stops it at once (KeyboardInterrupt). Main thread only; the old handlers come back after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}

    def handler(signum, frame):
        if budget.stop_reason is not None and budget.stop_reason.startswith("stopped by"):
            raise KeyboardInterrupt
        budget.stop(f"stopped by {signal.Signals(signum).name}")
        say(f"{signal.Signals(signum).name}: stopping after the batch being measured "
            "(send it again to stop at once)")

    for s in old:
        signal.signal(s, handler)
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def _prepare_folder(folder: Path, want: dict):
    """Check an existing database folder (every line, its target); returns its scan (None for a
    folder that holds no database yet)."""
    from .database import RECORDS, WORKLOADS, check_folder, check_targets, scan

    check_folder(folder)
    have = [(folder / n).is_file() for n in (WORKLOADS, RECORDS)]
    if not any(have):
        return None
    if not all(have):
        missing = WORKLOADS if not have[0] else RECORDS
        raise InputError(f"tuning records {folder}: {missing} is missing (not a whole MetaSchedule database)")
    files = scan(folder, allow_truncated_tail=True)
    check_targets(files, want)
    return files


def _existing(db, tasks) -> list[tuple[int, float, set]]:
    """(records, best valid ms, hashes of the scheduled functions) of each task already in `db`."""
    import tvm_ffi

    from .database import FAILED_RUN_SECS
    from .strategy import scheduled_hash

    groups: dict = {}
    for rec in db.get_all_tuning_records():
        mod = rec.workload.mod
        h = tvm_ffi.structural_hash(mod)
        for key in groups.setdefault(h, []):
            if tvm_ffi.structural_equal(key[0], mod):
                key[1].append(rec)
                break
        else:
            groups[h].append((mod, [rec]))
    out = []
    for t in tasks:
        recs = []
        for mod, rs in groups.get(tvm_ffi.structural_hash(t.mod), ()):
            if tvm_ffi.structural_equal(mod, t.mod):
                recs = rs
        times = [sorted(float(s) for s in r.run_secs)[len(r.run_secs) // 2] * 1e3 for r in recs
                 if r.run_secs is not None and min(float(s) for s in r.run_secs) < FAILED_RUN_SECS]
        out.append((len(recs), min(times) if times else float("inf"),
                    {scheduled_hash(r.as_measure_candidate().sch) for r in recs}))
    return out


def tune(model, target="llvm", trials: int = 200, tuning_records="tuning-records", *, sparse: str = "auto",
         input_shapes=None, batch: int = 1, target_host=None, space: str = "auto", rpc_tracker: str | None = None,
         rpc_key: str | None = None, rpc_workers: int | None = None, cross_compiler: str | None = None,
         trials_per_task: int | None = None, time_budget: float | None = None, trials_per_round: int | None = None,
         population: int = 128, builders: int | None = None, seed: int = 0, progress=None) -> TuneResult:
    """Tune every fused function of `model` (ONNX path or ModelProto) for `target` until the
    database folder `tuning_records` holds `trials` trials of the model's tasks.

    space: "auto" (a collection rule's knobs where the rule is tunable, else MetaSchedule's
        space), "collection" or "metaschedule" (see space.py).
    rpc_tracker "HOST:PORT" and rpc_key: measure on the tracker's boards (rpc_workers sessions
        at once; default: one per registered server); cross_compiler links for such a board.
    trials_per_task: at most this many trials per task. time_budget: stop after this many
        seconds (resumable). trials_per_round: batch size (default from trials and tasks).
    progress: a callable(str) for status lines.
    """
    from .. import targets
    from .database import check_folder, describe_target
    from .space import check_mode

    say = progress or (lambda msg: None)
    t0 = time.perf_counter()
    check_trials(trials)
    for name, value in (("--trials-per-task", trials_per_task), ("--time-budget", time_budget),
                        ("--trials-per-round", trials_per_round), ("--rpc-workers", rpc_workers),
                        ("--builders", builders), ("--population", population)):
        _check_positive(name, value)
    check_mode(space)
    folder = check_folder(tuning_records)
    tgt = targets.resolve(target, target_host)
    want = tgt.as_dict()
    tracker = None
    if rpc_tracker or rpc_key:
        from .rpc import parse_tracker

        tracker = parse_tracker(rpc_tracker or "", rpc_key)
    if tgt.is_cross and tracker is None:
        raise InputError(f"target {describe_target(want)} runs on another architecture than this machine: "
                         "measure on a board with --rpc-tracker HOST:PORT --rpc-key KEY")
    if tgt.is_gpu and tracker is None:
        import tvm

        if not tvm.device(tgt.device).exist:
            raise InputError(f"target {describe_target(want)}: this machine has no {tgt.device} device to measure on; "
                             "measure on a board with --rpc-tracker HOST:PORT --rpc-key KEY")
    files = _prepare_folder(folder, want)
    if tracker is not None:
        from .rpc import servers

        count = servers(tracker)
        rpc_workers = rpc_workers or count
        say(f"RPC tracker {tracker}: {count} server(s) with key {tracker.key!r}, {rpc_workers} measuring at once")

    from ..relax.lowering import lower
    from .measure import Builder, build_cpu, exporter
    from .space import choose
    from .tasks import extract

    builder = Builder(builders or targets.cpu_count(), f_export=exporter(cross_compiler),
                      f_build=build_cpu if tgt.family == "cpu" else None)
    builder.warm_up()             # its workers start their imports while the model is lowered
    created = not folder.exists()
    try:
        low = lower(model, tgt, sparse=sparse, input_shapes=input_shapes, batch=batch, stop_after="fuse",
                    progress=say)
        tasks = extract(low, seed)
        if not tasks:
            raise InputError("the model has no functions to tune")
        skipped = [{"task": t.name, "layers": t.layers, "reason": t.untunable} for t in tasks if t.untunable]
        tasks = [t for t in tasks if not t.untunable]
        if skipped:
            say(f"{len(skipped)} task(s) keep the collection's schedule, untuned: {skipped[0]['reason']} "
                f"({', '.join(s['task'] for s in skipped[:3])}{' ...' if len(skipped) > 3 else ''})")
        if not tasks:
            raise InputError(f"none of the model's {len(skipped)} functions can be tuned: {skipped[0]['reason']}")
        rules = tgt.rules()
        tvm_target = tgt.tvm()
        spaces = [choose(t, tvm_target, rules, space) for t in tasks]
        by_kind = {k: sum(1 for s in spaces if s.kind == k) for k in ("collection", "metaschedule")}
        say(f"{len(tasks)} tasks: {by_kind['collection']} over a collection rule's knobs, "
            f"{by_kind['metaschedule']} over MetaSchedule's space; target {describe_target(want)}")
        result = _run(folder, files, tasks, spaces, tgt, tracker, builder, trials, trials_per_task, time_budget,
                      trials_per_round, population, rpc_workers, seed, say, t0)
    except BaseException:
        if created and _record_count(folder) == 0:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    finally:
        builder.shutdown()
    result.skipped = skipped
    if created and result.trials == 0:
        shutil.rmtree(folder, ignore_errors=True)
    return result


def _record_count(folder: Path) -> int:
    from .database import RECORDS

    try:
        return sum(1 for line in open(folder / RECORDS) if line.strip())
    except OSError:
        return 0


def _run(folder, files, tasks, spaces, tgt, tracker, builder, trials, trials_per_task, time_budget,
         trials_per_round, population, rpc_workers, seed, say, t0) -> TuneResult:
    from tvm.s_tir import meta_schedule as ms

    from .. import targets
    from .budget import Budget, TaskState
    from .database import RECORDS, WORKLOADS, load, repair_tail
    from .measure import Arguments, local_runner
    from .progress import Progress
    from .scheduler import ModelScheduler
    from .strategy import TaskSearch, for_space

    folder.mkdir(parents=True, exist_ok=True)
    for name in (WORKLOADS, RECORDS):
        (folder / name).touch()
    if files is not None and files.truncated:
        cut = repair_tail(files)
        say(f"cut the half-written last line off {', '.join(cut)} (a run killed while writing)")
    db = load(folder)
    existing = _existing(db, tasks)
    budget = Budget(trials, [TaskState(before=n, best_ms=best) for n, best, _ in existing], trials_per_task,
                    time.monotonic() + time_budget if time_budget else None,
                    weights=[float(t.weight) for t in tasks])
    labels = [t.label for t in tasks]
    if budget.before:
        say(f"{folder}: {budget.before} of {trials} trials already there; tuning the other {max(0, budget.left())}")
    if budget.left() <= 0:
        return _result(folder, budget, tasks, spaces, 0, t0, None)

    n = len(tasks)
    per_round = trials_per_round or max(2, min(16, budget.left() // (2 * n)))
    remote = tracker is not None
    arguments = Arguments(remote=remote)
    if remote:
        from .rpc import TrackerRunner

        runner = TrackerRunner(tracker, arguments, rpc_workers)
    else:
        runner = local_runner(arguments)
    tvm_target = tgt.tvm()
    contexts = []
    for i, (task, sp) in enumerate(zip(tasks, spaces)):
        search = TaskSearch(for_space(sp, population), i, budget, arguments, task.arrays,
                            sp.seed, existing[i][2])
        contexts.append(ms.TuneContext(mod=task.mod, target=tvm_target, space_generator=sp.generator,
                                       search_strategy=search, task_name=task.name, rand_state=seed + i + 1,
                                       num_threads=targets.cpu_count()))
    weights = budget.weights
    scheduler = ModelScheduler(budget, weights, seed=seed, exclusive=not remote)
    callbacks = [ms.measure_callback.AddToDatabase(), ms.measure_callback.RemoveBuildArtifact(),
                 ms.measure_callback.UpdateCostModel(), Progress(budget, labels, say)]
    # One XGBoost thread: its OpenMP threads spin against the builders and other processes (on two
    # busy cores a training round took 0.4 s with two threads, 20 ms with one). It stops training
    # after 10 rounds without progress (TVM: 50; every round evaluates two Python metrics).
    cost_model = ms.cost_model.XGBModel(extractor=ms.feature_extractor.PerStoreFeature(), early_stopping_rounds=10,
                                        adaptive_training=True, num_tuning_cores=1)
    say(f"tuning {budget.left()} trials in rounds of up to {per_round} per task, "
        f"{'on the boards of ' + str(tracker) if remote else 'on this machine'}")
    new_before = budget.records
    try:
        with _stop_on_signals(budget, say), _closing(runner):
            scheduler.tune(tasks=contexts, task_weights=weights, max_trials_global=budget.left(),
                           max_trials_per_task=trials_per_task or trials, num_trials_per_iter=per_round,
                           builder=builder, runner=runner, measure_callbacks=callbacks, database=db,
                           cost_model=cost_model)
    except Exception as err:  # noqa: BLE001 - TVM hands a Python error raised in a callback back wrapped
        from ..interrupts import reraise_if_interrupt
        from .rpc import ServersLost

        reraise_if_interrupt(err)
        lost = isinstance(err, ServersLost) or "ServersLost" in f"{type(err).__name__} {err}"
        if not lost:
            raise
        text = str(err).strip().splitlines()
        reason = next((ln.split("ServersLost:", 1)[-1].strip() for ln in reversed(text) if "no RPC server" in ln),
                      text[-1] if text else "no RPC server left")
        raise CompileError(f"{reason}: stopped at {budget.records} of {trials} trials, every record kept; "
                           "run the same command again when the boards are back") from None
    stopped = budget.stop_reason
    if stopped is None and budget.records < trials:
        stopped = "every task's design space is exhausted"
    result = _result(folder, budget, tasks, spaces, budget.records - new_before, t0, stopped)
    result.retried = getattr(runner, "retried", 0)
    say(summary(result))
    if stopped:
        say(f"stopped ({stopped}) at {result.trials} of {trials} trials: run the same command again to continue")
    return result


@contextmanager
def _closing(runner):
    """The runner's worker processes end with the run."""
    try:
        yield
    finally:
        pool = getattr(runner, "pool", None)
        if pool is not None:
            pool.shutdown()


def _result(folder, budget, tasks, spaces, new, t0, stopped) -> TuneResult:
    rows = []
    for task, sp, st in zip(tasks, spaces, budget.tasks):
        rows.append({"task": task.name, "layers": task.layers, "weight": task.weight, "space": sp.label,
                     "trials": st.records, "best_ms": None if st.best_ms == float("inf") else st.best_ms,
                     "baseline_ms": st.baseline_ms, "errors": st.errors})
    return TuneResult(Path(folder), budget.total, budget.records, new, round(time.perf_counter() - t0, 1),
                      stopped, rows, list(budget.curve))


def summary(result: TuneResult) -> str:
    """The per-task table of a run: trials, best time, the collection's schedule's time."""
    from .progress import clock, milliseconds

    head = ("task", "space", "trials", "best", "collection")
    rows = [(r["task"][:56], r["space"], str(r["trials"]), milliseconds(r["best_ms"]),
             milliseconds(r["baseline_ms"])) for r in result.tasks]
    widths = [max(len(h), *(len(x[i]) for x in rows)) for i, h in enumerate(head)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in [head, tuple("-" * w for w in widths)] + rows]
    if result.skipped:
        lines.append(f"{len(result.skipped)} task(s) not tuned (the collection's schedule): {result.skipped[0]['reason']}")
    lines.append(f"{result.trials} of {result.total} trials in {result.records} ({result.new} new, "
                 f"{clock(result.seconds)})" + (f"; {result.retried} measurements retried after an RPC failure"
                                                if result.retried else ""))
    return "\n".join(lines)


def write_summary(result: TuneResult, path) -> None:
    """The per-task table and the tuning curve as JSON."""
    Path(path).write_text(json.dumps({"records": str(result.records), "total": result.total,
                                      "trials": result.trials, "new": result.new,
                                      "seconds": result.seconds, "stopped": result.stopped,
                                      "tasks": result.tasks, "skipped": result.skipped, "curve": result.curve}, indent=1))
