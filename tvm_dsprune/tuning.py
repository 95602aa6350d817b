"""MetaSchedule over the schedule collection's design spaces.

Every sparse-kernel rule samples its knobs when called with tunable=True; `tune_kernel` hands
that design space to MetaSchedule (replay-trace search, XGBoost cost model, JSON database) and
returns the best schedule found. The database is TVM's own format, as in tuning_logs/.

MetaSchedule's builder workers import tvm.s_tir.tensor_intrin, which takes about a minute on a
small machine and counts against the build timeout; `init_worker` runs it (faster, through
`fast_inspect`) before the timeout starts (tvm027 NOTES §3).
"""
from __future__ import annotations

import inspect
from pathlib import Path


def fast_inspect() -> None:
    """Short-circuit inspect's source lookups for `<frozen ...>` frames (TVMScript parsing calls
    inspect.stack(), which otherwise scans every loaded module for each frame)."""
    if getattr(inspect, "_dsprune_fast", False):
        return
    orig_sourcefile, orig_module = inspect.getsourcefile, inspect.getmodule

    def getsourcefile(obj):
        try:
            fn = inspect.getfile(obj)
        except TypeError:
            return orig_sourcefile(obj)
        return None if fn.startswith("<frozen") else orig_sourcefile(obj)

    def getmodule(obj, _filename=None):
        if _filename is not None and _filename.startswith("<frozen"):
            return None
        if _filename is None and inspect.isframe(obj) and obj.f_code.co_filename.startswith("<frozen"):
            return None
        return orig_module(obj, _filename)

    inspect.getsourcefile, inspect.getmodule = getsourcefile, getmodule
    inspect._dsprune_fast = True


def init_worker() -> None:
    """MetaSchedule builder/runner worker initializer (runs before any timeout)."""
    fast_inspect()
    import tvm.s_tir.tensor_intrin  # noqa: F401  (the import is the point)


def _allocator(arrays):
    """A runner argument allocator that measures on the given arrays: a sparse kernel must run on
    its real format (random pointer arrays would send it out of bounds)."""
    def alloc(device, args_info, alloc_repeat):
        import tvm

        return [[tvm.runtime.tensor(a, device) for a in arrays] for _ in range(alloc_repeat)]
    return alloc


def tune_kernel(func, rule, target, work_dir, arrays, trials: int = 8, seed: int = 0):
    """Tune one PrimFunc over `rule`'s design space, measured on `arrays` (every argument of the
    function, outputs included); returns (database, best schedule or None)."""
    import tvm
    from tvm.s_tir import meta_schedule as ms

    fast_inspect()
    mod = tvm.IRModule({"main": func.with_attr("global_symbol", "main")})

    def space(sch):
        out = rule(sch.mod["main"], target, True)
        if out is None:
            raise ValueError("the rule does not apply to this function")
        return [out]

    Path(work_dir).mkdir(parents=True, exist_ok=True)
    db = ms.tune_tir(
        mod=mod, target=target, work_dir=str(work_dir), max_trials_global=trials,
        num_trials_per_iter=min(trials, 8), strategy="replay-trace",
        space=ms.space_generator.ScheduleFn(space, sch_rules=[], postprocs=[], mutator_probs={}),
        cost_model=ms.cost_model.XGBModel(extractor=ms.feature_extractor.PerStoreFeature(),
                                          adaptive_training=False, num_warmup_samples=0),
        builder=ms.builder.LocalBuilder(initializer=init_worker, timeout_sec=120),
        runner=ms.runner.LocalRunner(evaluator_config=ms.runner.EvaluatorConfig(number=3, repeat=1),
                                     initializer=init_worker, f_alloc_argument=_allocator(arrays)),
        database="json", seed=seed)
    best = ms.tir_integration.compile_tir(db, mod, target)
    return db, best
