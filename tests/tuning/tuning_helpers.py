"""Databases in TVM's own format for the tests, written without measuring: every record is a
schedule of the collection's rules (sampled knobs where the rule has some) committed through
MetaSchedule's JSONDatabase, as `tune` commits them."""
from pathlib import Path


def write_database(folder, model, target="llvm", limit=None, sparse="auto", run_secs=1e-4, sparse_only=False):
    """A database for the first `limit` tasks of `model` (of its sparse kernels: those measured on
    their format arrays); returns the task names it holds."""
    from tvm.s_tir import meta_schedule as ms

    from tvm_dsprune.relax.lowering import lower
    from tvm_dsprune.tuning.space import collection_rule, is_tunable, sample
    from tvm_dsprune.tuning.tasks import extract

    low = lower(model, target, sparse=sparse, stop_after="fuse")
    tt = low.target.tvm()
    rules = low.target.rules()
    Path(folder).mkdir(parents=True, exist_ok=True)
    db = ms.database.JSONDatabase(work_dir=str(folder))
    names = []
    tasks = [t for t in extract(low) if t.sparse or not sparse_only]
    for task in tasks[:limit]:
        rule, sch = collection_rule(task.func, tt, rules)
        if rule is None:
            continue
        drawn = sample(rule, task.func, tt, True)
        sch = drawn if drawn is not None and is_tunable(drawn) else sch
        workload = db.commit_workload(task.mod)
        db.commit_tuning_record(ms.database.TuningRecord(
            sch.trace, workload, [run_secs], tt, ms.arg_info.ArgInfo.from_prim_func(task.func)))
        names.append(task.name)
    return names
