"""Building and measuring candidates: a builder whose worker processes live for the whole run, the
local runner, and the arguments a candidate is measured on.

MetaSchedule's LocalBuilder starts new worker processes for every batch, and each new worker
imports tvm.s_tir.tensor_intrin first (half a minute on a small machine, see workers.py): over a
whole model that is most of the tuning time. `Builder` keeps its workers and their imports
(restarting them now and then: TVM restarts them for a memory leak of long-lived workers).

`Arguments` is the runner's argument allocator: a sparse task's real format arrays (tasks.py),
or MetaSchedule's random tensors for every other task. Runners pickle it when a batch is
submitted, with the arrays the batch's task set on it (strategy.py).
"""
from __future__ import annotations

import functools
import os
import tempfile

from tvm.ir.utils import derived_object
from tvm.s_tir import meta_schedule as ms
from tvm.s_tir.meta_schedule.builder import BuilderResult, PyBuilder
from tvm.s_tir.meta_schedule.runner import PyRunner, PyRunnerFuture, RunnerResult

from .workers import init_worker


class Arguments:
    """A MetaSchedule argument allocator (local: (device, args_info, repeat); RPC: (session,
    device, args_info, repeat)) that uses `arrays` when set."""

    def __init__(self, remote: bool = False, arrays=None):
        self.remote = remote
        self.arrays = arrays

    def __call__(self, *args):
        import tvm

        if self.remote:
            session, device, args_info, repeat = args
        else:
            session, (device, args_info, repeat) = None, args
        if self.arrays is not None and len(self.arrays) == len(args_info):
            return [[tvm.runtime.tensor(a, device) for a in self.arrays] for _ in range(repeat)]
        if self.remote:
            from tvm.s_tir.meta_schedule.runner.rpc_runner import default_alloc_argument

            return default_alloc_argument(session, device, args_info, repeat)
        from tvm.s_tir.meta_schedule.runner.local_runner import default_alloc_argument

        return default_alloc_argument(device, args_info, repeat)


def export_cross(compiler: str, mod) -> str:
    """A builder export for a board of another architecture: a shared library linked by
    `compiler` (e.g. aarch64-linux-gnu-g++)."""
    from tvm.support import cc

    path = os.path.join(tempfile.mkdtemp(), "tvm_tmp_mod.so")
    mod.export_library(path, fcompile=cc.cross_compiler(compiler))
    return path


def build_cpu(mod, target, _params):
    """MetaSchedule's build function for CPU targets: TVM's lowering with the project's TIR passes
    (build/tir_pipeline.py), as `compile` builds. With TVM's default pipeline a candidate that
    allocates a scratch plane per task paid a runtime workspace call per task, which the real
    build does not: the collection's schedules measured up to 1.6x slower than they run, and
    tuning preferred schedules that were no faster in the model."""
    import tvm
    from tvm.s_tir.transform import RemoveWeightLayoutRewriteBlock

    from ..build.tir_pipeline import register

    mod = RemoveWeightLayoutRewriteBlock(skip_tensor_rewrite=True)(mod)
    return tvm.tirx.build(mod, target=target, pipeline=register())


def exporter(cross_compiler: str | None):
    return functools.partial(export_cross, cross_compiler) if cross_compiler else None


@derived_object
class Builder(PyBuilder):
    def __init__(self, max_workers: int, timeout_sec: float = 120.0, f_export=None, restart_every: int = 64,
                 f_build=None):
        super().__init__()
        self.max_workers = max_workers
        self.f_build = f_build
        self.timeout_sec = timeout_sec
        self.f_export = f_export
        self.restart_every = restart_every
        self.pool = None
        self.batches = 0

    def _pool(self):
        from tvm.support.popen_pool import PopenPoolExecutor

        if self.pool is not None and self.batches >= self.restart_every:
            self.shutdown()
        if self.pool is None:
            self.pool = PopenPoolExecutor(max_workers=self.max_workers, timeout=self.timeout_sec,
                                          initializer=init_worker)
            self.batches = 0
        self.batches += 1
        return self.pool

    def warm_up(self) -> None:
        """Start the workers now (their imports take a while) without waiting for them."""
        pool = self._pool()
        self.batches -= 1
        for _ in range(self.max_workers):
            pool.submit(_started)

    def build(self, build_inputs):
        from tvm.s_tir.meta_schedule.builder.local_builder import _serialize_params, _worker_func
        from tvm.support.popen_pool import StatusKind

        pool = self._pool()
        results = []
        work = [(self.f_build, self.f_export, b.mod, b.target, _serialize_params(b.params)) for b in build_inputs]
        for res in pool.map_with_error_catching(lambda x: _worker_func(*x), work):
            if res.status == StatusKind.COMPLETE:
                results.append(BuilderResult(res.value, None))
            elif res.status == StatusKind.TIMEOUT:
                results.append(BuilderResult(None, f"build timed out after {self.timeout_sec} s"))
            else:
                results.append(BuilderResult(None, f"build failed: {res.value}"))
        return results

    def shutdown(self) -> None:
        if self.pool is not None:
            self.pool.shutdown()
            self.pool = None


def _started() -> bool:
    return True


def local_runner(arguments: Arguments, timeout_sec: float = 60.0):
    """MetaSchedule's local runner (one worker: measurements must not overlap) on `arguments`,
    each candidate reported by its fastest repeat (FastestRepeat)."""
    return FastestRepeat(ms.runner.LocalRunner(timeout_sec=timeout_sec, evaluator_config=evaluator(),
                                               f_alloc_argument=arguments))


def evaluator():
    """5 repeats of at least 20 ms each (a kernel too short for that runs many times)."""
    return ms.runner.EvaluatorConfig(number=1, repeat=5, min_repeat_ms=20, enable_cpu_cache_flush=False)


def fastest(run_secs):
    """A candidate's time: its fastest repeat. MetaSchedule ranks records by the mean of their
    repeats; on a shared machine another process only ever adds time, so one slow repeat made a
    schedule look up to 2x slower than it runs, and the database's order followed the noise."""
    return None if run_secs is None else [min(float(t) for t in run_secs)]


@derived_object
class _Fastest(PyRunnerFuture):
    def __init__(self, future):
        super().__init__()
        self.future = future

    def done(self) -> bool:
        return self.future.done()

    def result(self):
        res = self.future.result()
        return RunnerResult(fastest(res.run_secs), res.error_msg)


@derived_object
class FastestRepeat(PyRunner):
    """A runner reporting each candidate by its fastest repeat (fastest()), around another."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    @property
    def pool(self):
        return getattr(self.inner, "pool", None)

    def run(self, runner_inputs):
        return [_Fastest(f) for f in self.inner.run(runner_inputs)]
