"""One PrimFunc tuned over one schedule rule's design space.

Every sparse-kernel rule samples its knobs when called with tunable=True; `tune_kernel` hands
that design space to MetaSchedule (replay-trace search, XGBoost cost model, JSON database) and
returns the best schedule found. The database is TVM's own format, as in tuning_logs/.
"""
from __future__ import annotations

from pathlib import Path

from ..kernels.script import fast_inspect
from .measure import build_cpu
from .workers import init_worker


def _allocator(arrays):
    """A runner argument allocator that measures on the given arrays: a sparse kernel must run on
    its real format (random pointer arrays would send it out of bounds)."""
    def alloc(device, args_info, alloc_repeat):
        import tvm

        return [[tvm.runtime.tensor(a, device) for a in arrays] for _ in range(alloc_repeat)]
    return alloc


def tune_kernel(func, rule, target, work_dir, arrays, trials: int = 8, seed: int = 0):
    """Tune one PrimFunc over `rule`'s design space (a schedules Rule, or a function with its
    `apply` contract), measured on `arrays` (every argument of the function, outputs included);
    returns (database, best schedule or None)."""
    import tvm
    from tvm.s_tir import meta_schedule as ms

    fast_inspect()
    mod = tvm.IRModule({"main": func.with_attr("global_symbol", "main")})

    apply = rule.apply if hasattr(rule, "apply") else rule

    def space(sch):
        out = apply(sch.mod["main"], target, True)
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
        builder=ms.builder.LocalBuilder(initializer=init_worker, timeout_sec=120,
                                        f_build=build_cpu if "cpu" in tvm.target.Target(target).keys else None),
        runner=ms.runner.LocalRunner(evaluator_config=ms.runner.EvaluatorConfig(number=3, repeat=1),
                                     initializer=init_worker, f_alloc_argument=_allocator(arrays)),
        database="json", seed=seed)
    best = ms.tir_integration.compile_tir(db, mod, target)
    return db, best
