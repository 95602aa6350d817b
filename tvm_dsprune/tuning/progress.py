"""Progress of a tuning run: a MetaSchedule measure callback that keeps the budget's per-task
counts and best times, adds a point to the tuning curve (the model's kernel time as tuned so
far), and prints one line per measured batch (tasks done, trials done / total, the task's best
time so far, elapsed and ETA)."""
from __future__ import annotations

from tvm.ir.utils import derived_object
from tvm.s_tir.meta_schedule.measure_callback import PyMeasureCallback

FAILED_MS = 1e6        # a failed build / run is recorded as 1e10 s


def clock(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    s = int(round(seconds))
    h, m = divmod(s // 60, 60)
    return f"{h}h{m:02d}m" if h else (f"{m}m{s % 60:02d}s" if m else f"{s}s")


def milliseconds(ms: float | None) -> str:
    if ms is None or ms >= FAILED_MS:
        return "-"
    return f"{ms:.4f} ms" if ms < 1 else f"{ms:.3f} ms"


def _ms(result) -> float:
    if result.error_msg is not None or result.run_secs is None or len(result.run_secs) == 0:
        return float("inf")
    secs = sorted(float(s) for s in result.run_secs)
    return secs[len(secs) // 2] * 1e3


def _first_line(text: str) -> str:
    lines = [ln.strip() for ln in str(text).strip().splitlines() if ln.strip()]
    return lines[-1][:200] if lines else ""


@derived_object
class Progress(PyMeasureCallback):
    def __init__(self, budget, labels: list[str], say):
        super().__init__()
        self.budget = budget
        self.labels = labels
        self.say = say

    def apply(self, task_scheduler, task_id, measure_candidates, builder_results, runner_results) -> None:
        state = self.budget.tasks[task_id]
        times = []
        for built, result in zip(builder_results, runner_results):
            if built.error_msg is not None or result.error_msg is not None:
                state.errors += 1
                if not state.first_error:
                    state.first_error = _first_line(built.error_msg or result.error_msg)
            times.append(_ms(result))
        state.committed += len(runner_results)
        if state.seed_in_flight and times:
            state.baseline_ms = times[0]
            state.seed_in_flight = False
        state.best_ms = min([state.best_ms] + times)
        state.history.append(state.best_ms if state.best_ms < float("inf") else 1e9)
        for i, t in enumerate(task_scheduler.tasks_):
            self.budget.tasks[i].done = self.budget.tasks[i].done or bool(t.is_terminated)
        self.budget.add_curve_point()
        b = self.budget
        done = sum(1 for t in b.tasks if t.done)
        line = (f"[{b.records:>{len(str(b.total))}}/{b.total} trials, {done}/{len(b.tasks)} tasks done, "
                f"{clock(b.elapsed())} elapsed, ETA {clock(b.eta())}] task {task_id} {self.labels[task_id]}: "
                f"{state.records} trials, best {milliseconds(state.best_ms)}")
        if state.baseline_ms is not None:
            line += f" (collection {milliseconds(state.baseline_ms)})"
        bad = sum(1 for x in times if x == float("inf"))
        if bad:
            line += f"; {bad} of {len(times)} failed: {state.first_error}"
        self.say(line)
