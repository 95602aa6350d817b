"""The trial budget of one tuning run, shared by the task scheduler, the search strategies and
the progress display.

A run must bring the database to `total` trials over the model's tasks, counting the records
already there (a rerun continues where a stopped run left off). Trials are counted when they are
issued (a batch is cut to what is left, so the total is reached exactly, never passed) and when
their records are committed. A stop request (a signal, the time budget) ends the run after the
batch being measured, whose records are kept.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class TaskState:
    before: int = 0                 # records in the database when the run started
    issued: int = 0                 # trials sent for measurement in this run
    committed: int = 0              # records this run committed
    best_ms: float = float("inf")   # best valid time in this run or before
    baseline_ms: float | None = None     # the collection's own schedule, when measured
    seed_in_flight: bool = False    # the batch being measured starts with that schedule
    history: list[float] = field(default_factory=list)   # best after each batch (the scheduler's gradient)
    errors: int = 0
    first_error: str = ""
    done: bool = False

    @property
    def records(self) -> int:
        return self.before + self.committed


@dataclass
class Budget:
    total: int
    tasks: list[TaskState]
    per_task: int | None = None
    deadline: float | None = None          # time.monotonic() when the time budget ends
    stop_reason: str | None = None
    started: float = field(default_factory=time.monotonic)
    weights: list[float] | None = None     # calls of each task's kernel in the model
    curve: list[dict] = field(default_factory=list)   # the tuning curve: one point per measured batch

    @property
    def before(self) -> int:
        return sum(t.before for t in self.tasks)

    @property
    def records(self) -> int:
        return sum(t.records for t in self.tasks)

    def left(self) -> int:
        """Trials not yet issued (the database's records and this run's batches counted)."""
        return self.total - self.before - sum(t.issued for t in self.tasks)

    def task_left(self, i: int) -> int:
        left = self.left()
        if self.per_task is not None:
            left = min(left, self.per_task - self.tasks[i].before - self.tasks[i].issued)
        return max(0, left)

    def stop(self, reason: str) -> None:
        if self.stop_reason is None:
            self.stop_reason = reason

    @property
    def stopping(self) -> bool:
        if self.deadline is not None and time.monotonic() >= self.deadline:
            self.stop("time budget spent")
        return self.stop_reason is not None

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def model_ms(self, attr: str = "best_ms") -> float | None:
        """The model's kernel time as tuned so far: each task's best (or baseline) time times its
        calls, summed; None while some task has no valid time yet."""
        total = 0.0
        for state, w in zip(self.tasks, self.weights or [1.0] * len(self.tasks)):
            ms = getattr(state, attr)
            if ms is None or ms == float("inf"):
                return None
            total += w * ms
        return total

    def add_curve_point(self) -> None:
        self.curve.append({"seconds": round(self.elapsed(), 2), "trials": self.records,
                           "model_ms": self.model_ms(), "collection_ms": self.model_ms("baseline_ms")})

    def eta(self) -> float | None:
        """Seconds to the total at this run's pace so far (None before the first record)."""
        new = sum(t.committed for t in self.tasks)
        if new == 0:
            return None
        return self.elapsed() / new * max(0, self.total - self.records)
