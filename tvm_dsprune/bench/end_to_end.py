"""A zoo model end to end: pruned with a preset, compiled dense and pruned for this CPU, checked
against onnxruntime, and timed side by side with onnxruntime on the dense and pruned models.

`tvm-dsprune bench` runs it per model and preset; `tvm-dsprune demo` is one such run that
prints every step. The MAC limit is dense MACs / pruned MACs counted from the masks: the
speedup a pruned model would show at the dense model's efficiency.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path

SYSTEMS = ("onnxruntime dense", "onnxruntime pruned", "TVM dense", "TVM pruned")
UNTUNED = ("TVM dense untuned", "TVM pruned untuned")


@dataclass
class EndToEnd:
    model: str
    preset: str
    dense_onnx: Path
    pruned_onnx: Path
    dense_package: Path | None = None
    pruned_package: Path | None = None
    untuned_packages: dict = field(default_factory=dict)  # "TVM dense untuned" / "TVM pruned untuned" -> package
    prune_summary: dict = field(default_factory=dict)
    compile_summary: dict = field(default_factory=dict)
    errors: dict = field(default_factory=dict)          # "dense" / "pruned" -> rel. error vs onnxruntime
    macs: dict = field(default_factory=dict)            # "dense" / "pruned" -> MACs of one image
    times: dict = field(default_factory=dict)           # system -> {"median_ms", ...}

    @property
    def mac_limit(self) -> float:
        return self.macs["dense"] / self.macs["pruned"]

    def feed(self) -> dict:
        from .. import zoo

        return {"input": zoo.example_input(self.model, batch=1, seed=0).numpy()}


def prepare(model: str, preset: str, workdir, say=lambda m: None, tuning_records=None,
            dense_from: EndToEnd | None = None, target: str = "llvm", cross_compiler: str | None = None,
            session=None, untuned: bool = False) -> EndToEnd:
    """Export, prune, compile dense and pruned, and check both builds against onnxruntime.
    dense_from: an earlier run of the same model whose dense export and build are reused.
    untuned: also build both without any tuning records (shipped or given), to time beside the
    tuned builds.
    target / cross_compiler / session: build for a board and check there (runtime.rpc); the
    default is this CPU."""
    from .. import zoo
    from ..build.compile import compile
    from ..frontend.onnx_model import model_macs
    from ..pruning.onnx_prune import prune
    from ..pruning.presets import label, preset as named
    from ..runtime.session import LoadedModel
    from .timing import ort_session, relative_error

    work = Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    run = EndToEnd(model, preset, work / f"{model}.onnx", work / f"{model}_{preset}.onnx")
    if dense_from is None:
        say(f"[1/6] zoo: {model} with seeded random weights -> {run.dense_onnx}")
        zoo.export(model, run.dense_onnx)
    where = "this CPU" if target == "llvm" else str(target)
    say(f"[2/6] prune: {preset} ({label(named(preset))}), tile geometry of {where} ({target})")
    pr = prune(run.dense_onnx, run.pruned_onnx, preset=preset, target=target,
               masks=work / f"{model}_{preset}_masks.npz", report=work / f"{model}_{preset}_prune.json")
    run.prune_summary = pr.report["summary"]
    run.macs = {"dense": model_macs(run.dense_onnx), "pruned": model_macs(run.pruned_onnx)}
    s = pr.report["summary"]
    say("      " + ", ".join(f"{k.upper()} ratio {s[k]['ratio']:.3f}" for k in ("dw", "pw", "fc") if k in s)
        + f"; MACs {run.macs['dense'] / 1e6:.0f}M -> {run.macs['pruned'] / 1e6:.0f}M "
          f"(MAC limit {run.mac_limit:.2f}x)")
    if dense_from is None:
        say(f"[3/6] compile the dense model for {where} (TVM, sparse off)")
        run.dense_package = compile(run.dense_onnx, target, work / f"{model}_dense.tar", sparse="off",
                                    tuning_records=tuning_records, cross_compiler=cross_compiler).package
    else:
        run.dense_package, run.errors["dense"] = dense_from.dense_package, dense_from.errors["dense"]
    say(f"[4/6] compile the pruned model for {where} (TVM, sparse kernels where they win)")
    pruned = compile(run.pruned_onnx, target, work / f"{model}_{preset}.tar", sparse="auto",
                     report=work / f"{model}_{preset}_compile.json", tuning_records=tuning_records,
                     cross_compiler=cross_compiler)
    run.pruned_package = pruned.package
    run.compile_summary = cs = pruned.report["summary"]
    say(f"      {cs['sparse']} of {cs['layers']} conv/dense layers run sparse"
        + (f" ({', '.join(f'{k} {v}' for k, v in cs['by_op'].items() if v)})" if cs["sparse"] else "")
        + (f", {cs['compact']} compact" if cs["compact"] else ""))
    if pruned.report.get("tuning_records") or pruned.report.get("tuning_hint"):   # shipped or given databases
        say("      " + (f"tuning records: {pruned.report['tuning_records']}, {cs['tuned']} layers tuned"
                        if pruned.report.get("tuning_records") else pruned.report["tuning_hint"]))
    if untuned:
        say("      and both untuned (no tuning records), to time beside the tuned builds")
        if dense_from is not None and "TVM dense untuned" in dense_from.untuned_packages:
            run.untuned_packages["TVM dense untuned"] = dense_from.untuned_packages["TVM dense untuned"]
        else:
            run.untuned_packages["TVM dense untuned"] = compile(
                run.dense_onnx, target, work / f"{model}_dense_untuned.tar", sparse="off", tuning_records=False,
                cross_compiler=cross_compiler).package
        run.untuned_packages["TVM pruned untuned"] = compile(
            run.pruned_onnx, target, work / f"{model}_{preset}_untuned.tar", sparse="auto", tuning_records=False,
            cross_compiler=cross_compiler).package
    say("[5/6] check against onnxruntime on the same input")
    feed = run.feed()
    for key, onnx_path, pkg in (("dense", run.dense_onnx, run.dense_package),
                                ("pruned", run.pruned_onnx, run.pruned_package)):
        if key in run.errors:
            continue
        ref = ort_session(onnx_path).run(None, feed)[0]
        loaded = LoadedModel(pkg, session=session)
        try:
            run.errors[key] = relative_error(loaded(feed)["output"], ref)
        finally:
            loaded.close()
        say(f"      TVM {key} vs onnxruntime ({key} model): relative error {run.errors[key]:.1e}"
            + (f" (TVM on {session.name})" if session is not None else ""))
    return run


def measure(run: EndToEnd, rounds: int = 5, say=lambda m: None, systems=SYSTEMS) -> dict:
    """Time the chosen systems side by side: every round, each in a fresh process of its own."""
    from ..targets import cpu_count
    from .timing import isolated

    paths = {"onnxruntime dense": ("onnxruntime", run.dense_onnx),
             "onnxruntime pruned": ("onnxruntime", run.pruned_onnx),
             "TVM dense": ("tvm", run.dense_package), "TVM pruned": ("tvm", run.pruned_package),
             **{k: ("tvm", pkg) for k, pkg in run.untuned_packages.items()}}
    systems = list(systems) + [k for k in UNTUNED if k in run.untuned_packages and k not in systems]
    say(f"[6/6] time: {rounds} rounds, each system in a process of its own, {cpu_count()} threads")
    run.times = isolated({k: paths[k] for k in systems}, run.feed(), rounds=rounds,
                         progress=lambda m: say("      " + m))
    return run.times


def measure_on_board(run: EndToEnd, session, rounds: int = 5, say=lambda m: None) -> dict:
    """Time TVM dense and pruned where `session` runs them (a board: TVM's time_evaluator runs
    there); onnxruntime does not run on the board, so it is not timed."""
    from ..runtime.session import LoadedModel

    say(f"[6/6] time on {session.name}: {rounds} samples each, measured on the board")
    for name, pkg in (("TVM dense", run.dense_package), ("TVM pruned", run.pruned_package)):
        loaded = LoadedModel(pkg, session=session)
        try:
            samples = loaded.time(run.feed(), repeat=rounds)
        finally:
            loaded.close()
        run.times[name] = {"median_ms": statistics.median(samples), "min_ms": min(samples), "samples_ms": samples}
        say(f"      {name}: median {run.times[name]['median_ms']:.3f} ms")
    return run.times


def row(run: EndToEnd) -> dict:
    """One row of the end-to-end table."""
    from ..pruning.presets import label, preset as named

    return {"model": run.model, "preset": run.preset, "pruning": label(named(run.preset)),
            "sparse_layers": run.compile_summary.get("sparse", 0), "tuned_layers": run.compile_summary.get("tuned", 0),
            "mac_limit": run.mac_limit,
            "rel_error_vs_onnxruntime": run.errors["pruned"],
            **{k: v["median_ms"] for k, v in run.times.items()}}
