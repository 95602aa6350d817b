"""The main job: a built-in MobileNet-V2, pruned with DEPrune-BH, compiled dense and sparse for
this CPU, checked against onnxruntime and timed side by side."""
from __future__ import annotations

from pathlib import Path


DW_SPEC = "dcp-bh:0.78"
PW_SPEC = "filter-l2:0.5"


def run_demo(workdir="dsprune-demo", model: str = "mobilenet_v2", rounds: int = 5,
             say=print) -> dict:
    from . import zoo
    from .compile_model import compile
    from .pruning.onnx_prune import prune
    from .run_model import LoadedModel
    from .timing import cpu_count, isolated, ort_session, relative_error

    work = Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    dense_onnx, pruned_onnx = work / f"{model}.onnx", work / f"{model}_pruned.onnx"
    say(f"[1/6] zoo: {model} with seeded random weights -> {dense_onnx}")
    zoo.export(model, dense_onnx)
    say(f"[2/6] prune: DEPrune-BH, DW {DW_SPEC}, PW {PW_SPEC}, tile geometry of this CPU (llvm)")
    pr = prune(dense_onnx, pruned_onnx, dw=DW_SPEC, pw=PW_SPEC, target="llvm",
               masks=work / "masks.npz", report=work / "prune_report.json")
    s = pr.report["summary"]
    say(f"      DW ratio {s['dw']['ratio']:.3f} (HSR {s.get('hsr_pattern', '-')}), "
        f"PW ratio {s['pw']['ratio']:.3f}, total {s['total']['ratio']:.3f}")
    say("[3/6] compile the dense model for this CPU (TVM, sparse off)")
    dense = compile(dense_onnx, "llvm", work / f"{model}_dense.tar", sparse="off")
    say("[4/6] compile the pruned model for this CPU (TVM, sparse kernels where they win)")
    sparse = compile(pruned_onnx, "llvm", work / f"{model}_pruned.tar", sparse="auto",
                     report=work / "compile_report.json")
    cs = sparse.report["summary"]
    say(f"      {cs['sparse']} of {cs['layers']} conv/dense layers run sparse "
        f"({', '.join(f'{k} {v}' for k, v in cs['by_op'].items() if v)})")

    say("[5/6] check against onnxruntime on the same input")
    x = zoo.example_input(model, batch=1, seed=0).numpy()
    feed = {"input": x}
    m_dense, m_sparse = LoadedModel(dense.package), LoadedModel(sparse.package)
    ref_dense = ort_session(dense_onnx).run(None, feed)[0]
    ref_pruned = ort_session(pruned_onnx).run(None, feed)[0]
    err_dense = relative_error(m_dense(feed)["output"], ref_dense)
    err_sparse = relative_error(m_sparse(feed)["output"], ref_pruned)
    say(f"      TVM dense vs onnxruntime (dense model): relative error {err_dense:.1e}")
    say(f"      TVM pruned vs onnxruntime (pruned model): relative error {err_sparse:.1e}")

    say(f"[6/6] time: {rounds} rounds, each system in a process of its own, {cpu_count()} threads")
    times = isolated({"onnxruntime dense": ("onnxruntime", dense_onnx),
                      "TVM dense": ("tvm", dense.package),
                      "TVM pruned": ("tvm", sparse.package)}, feed, rounds=rounds,
                     progress=lambda m: say("      " + m))
    base = times["onnxruntime dense"]["median_ms"]
    rows = [("onnxruntime dense", times["onnxruntime dense"]["median_ms"], None),
            ("TVM dense", times["TVM dense"]["median_ms"], err_dense),
            ("TVM pruned", times["TVM pruned"]["median_ms"], err_sparse)]
    say("")
    say(f"{'system':<20} {'median ms':>10} {'vs onnxruntime':>15} {'rel. error':>11}")
    for name, ms, err in rows:
        say(f"{name:<20} {ms:>10.3f} {base / ms:>14.2f}x {('-' if err is None else f'{err:.1e}'):>11}")
    ok = err_dense < 1e-4 and err_sparse < 1e-4
    say("\noutputs match onnxruntime (relative error < 1e-4)" if ok else
        "\nWARNING: outputs differ from onnxruntime by more than 1e-4")
    say(f"files in {work}/")
    return {"times": times, "errors": {"dense": err_dense, "pruned": err_sparse}, "ok": ok}
