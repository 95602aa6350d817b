"""The search strategy of one task: MetaSchedule's evolutionary search (XGBoost cost model) over
the task's design space, with four things around it.

- The collection's own schedule is the task's first candidate (space.py says why), unless the
  database already holds records of the task (then it was measured before).
- A schedule is measured once: candidates whose scheduled function the database or this run
  already measured are skipped (a rerun would otherwise measure the database's best again).
- Every batch is cut to the trials the budget has left, so a run reaches its total exactly.
- Before its batch is built and run, the task's measurement arguments are handed to the runner:
  MetaSchedule builds and runs one task's batch right after the strategy generates it.
"""
from __future__ import annotations

import tvm_ffi
from tvm.ir.utils import derived_object
from tvm.s_tir import meta_schedule as ms
from tvm.s_tir.meta_schedule.search_strategy import PySearchStrategy

ROUNDS_WITHOUT_NEW = 3     # generations in a row that found only measured schedules: the space is done


def evolutionary(population: int = 128):
    """MetaSchedule's evolutionary search, sized for a small machine: TVM's default (population
    512, 4 generations) spends most of a batch's time on two cores evolving it."""
    return ms.search_strategy.EvolutionarySearch(population_size=population, genetic_num_iters=2,
                                                 init_min_unmeasured=min(50, population // 4))


def for_space(space, population: int = 128):
    """The inner search of a design space (space.Space), None for a space of one point.

    MetaSchedule's own space: evolutionary search with the XGBoost cost model. A collection
    rule's knobs: every candidate is a fresh call of the rule with new draws (ReplayFunc). The
    evolutionary search mutates a trace's decisions and replays the rest of the trace as it was,
    but a rule's Python code may take other steps for other knob values (a loop of extent 1 is
    not split, so there are fewer loops to name), and such a replay fails inside TVM; a rule's
    knobs are few (tens of points), and the measured-once filter below makes the random draws a
    walk through them without repeats."""
    if not space.search:
        return None
    if space.kind == "metaschedule":
        return evolutionary(population)
    return ms.search_strategy.ReplayFunc()


def scheduled_hash(sch) -> int:
    return tvm_ffi.structural_hash(sch.mod)


@derived_object
class TaskSearch(PySearchStrategy):
    def __init__(self, inner, index: int, budget, arguments, task_arrays=None, seed_schedule=None,
                 measured: set | None = None):
        self.inner = inner                  # the MetaSchedule search strategy (None: the seed only)
        self.index = index                  # this task's index in the budget
        self.budget = budget
        self.arguments = arguments          # measure.Arguments the runner allocates with
        self.task_arrays = task_arrays      # the task's measurement arguments (None: random)
        self.seed_schedule = seed_schedule
        self.measured = set(measured or ())   # hashes of the scheduled functions measured so far
        self.pending_seed = seed_schedule is not None and budget.tasks[index].before == 0
        self.seeds_in_batch = 0
        self.per_batch = 64                 # set by pre_tuning: the run's batch size

    def _initialize_with_tune_context(self, context) -> None:
        if self.inner is not None:
            self.inner._initialize_with_tune_context(context)

    def pre_tuning(self, max_trials, num_trials_per_iter, design_spaces, database=None, cost_model=None):
        self.per_batch = num_trials_per_iter
        if self.inner is not None:
            self.inner.pre_tuning(max_trials, num_trials_per_iter, design_spaces, database, cost_model)

    def post_tuning(self) -> None:
        if self.inner is not None:
            self.inner.post_tuning()

    def _fresh(self, limit: int) -> list:
        """Up to `limit` candidates of the inner search that nothing measured yet."""
        out, idle = [], 0
        while len(out) < limit and idle < ROUNDS_WITHOUT_NEW:
            found = self.inner.generate_measure_candidates()
            if found is None:
                break
            seen = []
            for cand in found:
                h = scheduled_hash(cand.sch)
                if h in self.measured or len(out) >= limit:
                    seen.append(cand)
                else:
                    self.measured.add(h)
                    out.append(cand)
            if seen:               # the inner search counts them as tried, so it moves on
                self.inner.notify_runner_results(seen, [ms.runner.RunnerResult(None, "measured before")] * len(seen))
            idle = idle + 1 if len(seen) == len(found) else 0
        return out

    def generate_measure_candidates(self):
        from tvm.s_tir.meta_schedule.arg_info import ArgInfo

        limit = min(self.budget.task_left(self.index), self.per_batch)
        if limit <= 0 or self.budget.stopping:
            return None
        out = []
        if self.pending_seed:
            self.pending_seed = False
            self.measured.add(scheduled_hash(self.seed_schedule))
            out.append(ms.search_strategy.MeasureCandidate(
                self.seed_schedule, ArgInfo.from_entry_func(self.seed_schedule.mod, remove_preproc=True)))
            self.budget.tasks[self.index].seed_in_flight = True
        self.seeds_in_batch = len(out)
        if self.inner is not None and len(out) < limit:
            out += self._fresh(limit - len(out))
        if not out:
            return None
        self.budget.tasks[self.index].issued += len(out)
        self.arguments.arrays = self.task_arrays
        return out

    def notify_runner_results(self, measure_candidates, results) -> None:
        n = self.seeds_in_batch
        self.seeds_in_batch = 0
        if self.inner is not None and len(measure_candidates) > n:
            self.inner.notify_runner_results(list(measure_candidates)[n:], list(results)[n:])

    def clone(self):
        return TaskSearch(None if self.inner is None else self.inner.clone(), self.index, self.budget,
                          self.arguments, self.task_arrays, self.seed_schedule, self.measured)
