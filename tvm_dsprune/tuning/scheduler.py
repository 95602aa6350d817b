"""The task scheduler: which task gets the next batch of trials.

MetaSchedule's gradient-based scheduler, in Python so that it also honours the run's budget:
one round over every task first, then the task whose weighted best time (its share of the
model's time) has been falling fastest. A task stops when its share of the budget is spent or
its space is exhausted; the run stops when the budget is spent or a stop was requested (signal,
time budget). Stopping returns no task: MetaSchedule then waits for the batches still being
measured and commits their records, so nothing measured is lost.

MetaSchedule builds the next batch while the last one is being measured. On this machine's
cores that would time kernels against the compiler: when measuring locally (`exclusive`), each
batch is measured before the next one is built. Boards measure while the host builds.
"""
from __future__ import annotations

import random

from tvm.ir.utils import derived_object
from tvm.s_tir.meta_schedule.task_scheduler import PyTaskScheduler


@derived_object
class ModelScheduler(PyTaskScheduler):
    def __init__(self, budget, weights: list[float], alpha: float = 0.2, window: int = 3, seed: int = 0,
                 exclusive: bool = True):
        super().__init__()
        self.budget = budget
        self.exclusive = exclusive           # measure alone: no build while a batch is timed here
        self.weights = weights
        self.alpha, self.window = alpha, window
        self.rng = random.Random(seed)
        self.round = 0                       # tasks given their first batch so far

    def _join(self, outer, i: int) -> None:
        if outer.tasks_[i].runner_futures is not None:
            outer.join_running_task(i)

    def _alive(self, outer) -> list[int]:
        alive = []
        for i, task in enumerate(outer.tasks_):
            outer.touch_task(i)
            if task.is_terminated:
                continue
            if self.budget.task_left(i) <= 0:
                self._join(outer, i)
                outer.terminate_task(i)
                continue
            alive.append(i)
        return alive

    def _gradient(self, i: int) -> float:
        hist = self.budget.tasks[i].history
        n = len(hist)
        if n == 0 or hist[-1] >= 1e9:
            return -1e9
        best, w = hist[-1], self.window
        g1 = (hist[n - 1 - w] - best) / w if n >= 1 + w else 0.0
        g2 = best / n
        return (self.alpha * g1 + (1 - self.alpha) * g2) * self.weights[i]

    def next_task_id(self) -> int:
        outer = self._outer()
        n = len(outer.tasks_)
        for i in range(n):               # commit (and show) every batch measured by now
            if self.exclusive:
                self._join(outer, i)
            else:
                outer.touch_task(i)
        if self.budget.stopping or self.budget.left() <= 0:
            return -1
        while self.round < n:
            i = self.round
            self.round += 1
            if not outer.tasks_[i].is_terminated and self.budget.task_left(i) > 0:
                return i
        alive = self._alive(outer)
        if not alive:
            return -1
        grads = [self._gradient(i) for i in alive]
        top = max(grads)
        pick = alive[grads.index(top)] if top != min(grads) else self.rng.choice(alive)
        self._join(outer, pick)
        return pick
