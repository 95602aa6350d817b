"""tvm-dsprune bench: dense vs pruned, per depthwise layer and end to end, measured side by side.

Per DW layer of a zoo model: the layer alone (conv + bias + ReLU, the model's own weights and
input size) in onnxruntime dense, TVM dense, and TVM sparse with DEPrune-B masks at 50/80/90%.
End to end per zoo model: onnxruntime on the dense and on the pruned model (it cannot skip the
zeros), TVM dense, TVM pruned (DEPrune-BH DW 0.78, PW filter-l2 0.5). Every figure is the median
over rounds, each system timed in a process of its own (see timing.py); results come back as a
dict and print as tables.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np

RATIOS = (0.5, 0.8, 0.9)


def depthwise_layers(onnx_path) -> list[dict]:
    """Every DW conv of a model: name, weight, bias, input shape, stride, padding."""
    import onnx
    from onnx import numpy_helper

    from .pruning import onnx_model

    proto = onnx.load(str(onnx_path))
    for inp in proto.graph.input:
        dim = inp.type.tensor_type.shape.dim
        if dim and not dim[0].HasField("dim_value"):
            dim[0].dim_value = 1
    shapes = {vi.name: [d.dim_value for d in vi.type.tensor_type.shape.dim]
              for vi in onnx.shape_inference.infer_shapes(proto).graph.value_info}
    shapes.update({i.name: [d.dim_value for d in i.type.tensor_type.shape.dim] for i in proto.graph.input})
    inits = {i.name: numpy_helper.to_array(i) for i in proto.graph.initializer}
    layers, _ = onnx_model.find_layers(proto)
    dw_names = {L.name for L in layers if L.kind == "dw"}
    out = []
    for node in proto.graph.node:
        if (node.name or node.output[0]) not in dw_names:
            continue
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        w = inits[node.input[1]]
        b = inits[node.input[2]] if len(node.input) > 2 and node.input[2] in inits else np.zeros(w.shape[0], w.dtype)
        out.append({"name": node.name, "weight": w, "bias": b, "input": shapes[node.input[0]],
                    "strides": list(attrs.get("strides", [1, 1])), "pads": list(attrs.get("pads", [0, 0, 0, 0]))})
    return out


def single_layer_onnx(layer: dict, weight: np.ndarray) -> bytes:
    from onnx import TensorProto, helper, numpy_helper

    c, _, kh, kw = weight.shape
    n, _, h, w = layer["input"]
    (sh, sw), (pt, pl, pb, pr) = layer["strides"], layer["pads"]
    out_shape = [n, c, (h + pt + pb - kh) // sh + 1, (w + pl + pr - kw) // sw + 1]
    g = helper.make_graph(
        [helper.make_node("Conv", ["x", "w", "b"], ["y"], group=c, strides=layer["strides"], pads=layer["pads"]),
         helper.make_node("Relu", ["y"], ["z"])], "dw",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, layer["input"])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, out_shape)],
        [numpy_helper.from_array(weight, "w"), numpy_helper.from_array(layer["bias"], "b")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    return m.SerializeToString()


def bench_layers(model: str, workdir: Path, rounds: int, say) -> list[dict]:
    from . import targets, zoo
    from .compile_model import compile
    from .pruning.dcp import bwt_mask
    from .run_model import LoadedModel
    from .timing import isolated, ort_session, relative_error

    group = targets.resolve("llvm").geometry.dr_group
    src = zoo.export(model, workdir / f"{model}.onnx")
    rows = []
    for i, layer in enumerate(depthwise_layers(src)):
        w = layer["weight"]
        x = np.random.default_rng(i).standard_normal(layer["input"]).astype("float32")
        feed = {"x": x}
        (workdir / "dense.onnx").write_bytes(single_layer_onnx(layer, w))
        systems = {"onnxruntime dense": ("onnxruntime", workdir / "dense.onnx")}
        compile(workdir / "dense.onnx", "llvm", workdir / "dense.tar", sparse="off")
        systems["TVM dense"] = ("tvm", workdir / "dense.tar")
        for r in RATIOS:
            pb = single_layer_onnx(layer, w * bwt_mask(w, r, group))
            (workdir / f"p{r}.onnx").write_bytes(pb)
            compile(workdir / f"p{r}.onnx", "llvm", workdir / f"p{r}.tar", sparse="on")
            err = relative_error(LoadedModel(workdir / f"p{r}.tar")(feed)["z"], ort_session(pb).run(None, feed)[0])
            if err > 1e-4:
                raise RuntimeError(f"{model} layer {layer['name']} at {r}: relative error {err:.1e} vs onnxruntime")
            systems[f"TVM sparse {int(r * 100)}%"] = ("tvm", workdir / f"p{r}.tar")
        t = isolated(systems, feed, rounds=rounds, together=True)
        c, _, kh, kw = w.shape
        row = {"model": model, "layer": layer["name"], "channels": c, "kernel": f"{kh}x{kw}",
               "stride": layer["strides"][0], "input": "x".join(map(str, layer["input"][2:])),
               **{k: v["median_ms"] for k, v in t.items()}}
        rows.append(row)
        say(f"  {model} DW {i + 1}: C={c} {kh}x{kw}/s{row['stride']} {row['input']}: " +
            ", ".join(f"{k} {v['median_ms'] * 1e3:.0f} us" for k, v in t.items()))
    return rows


# end-to-end pruning plans: DEPrune-BH as the paper runs it (PW filter pruning where it does not
# remove DW channels), and DEPrune-BH's DW with every PW layer pruned in unaligned 1x4 groups
PLANS = {"deprune-bh": {"dw": "dcp-bh:0.78", "pw": "filter-l2:0.5"},
         "deprune-bh+groups": {"dw": "dcp-bh:0.78", "pw": "group-optimal:0.8", "group": "1x4"}}


def plan_label(plan: dict) -> str:
    return f"DW {plan['dw']}, PW {plan['pw']}" + (f" {plan['group']}" if plan.get("group") else "")


def bench_end_to_end(model: str, workdir: Path, rounds: int, say, plan: str = "deprune-bh") -> dict:
    from . import zoo
    from .compile_model import compile
    from .pruning.onnx_prune import prune
    from .run_model import LoadedModel
    from .timing import isolated, ort_session, relative_error

    src = zoo.export(model, workdir / f"{model}.onnx")
    pruned = workdir / f"{model}_{plan}.onnx"
    prune(src, pruned, target="llvm", **PLANS[plan])
    d = compile(src, "llvm", workdir / f"{model}_dense.tar", sparse="off")
    p = compile(pruned, "llvm", workdir / f"{model}_{plan}.tar", sparse="auto")
    feed = {"input": zoo.example_input(model).numpy()}
    err = relative_error(LoadedModel(p.package)(feed)["output"], ort_session(pruned).run(None, feed)[0])
    t = isolated({"onnxruntime dense": ("onnxruntime", src), "onnxruntime pruned": ("onnxruntime", pruned),
                  "TVM dense": ("tvm", d.package), "TVM pruned": ("tvm", p.package)}, feed, rounds=rounds)
    row = {"model": model, "pruning": plan_label(PLANS[plan]), "sparse_layers": p.report["summary"]["sparse"],
           "rel_error_vs_onnxruntime": err, **{k: v["median_ms"] for k, v in t.items()}}
    say(f"  {model}, {plan}: " + ", ".join(f"{k} {v['median_ms']:.2f} ms" for k, v in t.items()) + f" (rel. error {err:.1e})")
    return row


def markdown(result: dict) -> str:
    lines = []
    if result.get("layers"):
        cols = ["onnxruntime dense", "TVM dense"] + [f"TVM sparse {int(r * 100)}%" for r in RATIOS]
        lines += ["| model | DW layer | C | k/s | input | " + " | ".join(f"{c} (us)" for c in cols) +
                  " | sparse 80% vs onnxruntime |", "|---" * (6 + len(cols)) + "|"]
        for r in result["layers"]:
            lines.append(f"| {r['model']} | {r['layer'].strip('/').replace('/Conv', '')} | {r['channels']} | "
                         f"{r['kernel']}/{r['stride']} | {r['input']} | " +
                         " | ".join(f"{r[c] * 1e3:.0f}" for c in cols) +
                         f" | {r['onnxruntime dense'] / r['TVM sparse 80%']:.2f}x |")
        lines.append("")
    if result.get("end_to_end"):
        cols = ["onnxruntime dense", "onnxruntime pruned", "TVM dense", "TVM pruned"]
        lines += ["| model | pruning | " + " | ".join(f"{c} (ms)" for c in cols) +
                  " | TVM pruned vs onnxruntime dense | rel. error |", "|---" * (4 + len(cols)) + "|"]
        for r in result["end_to_end"]:
            lines.append(f"| {r['model']} | {r['pruning']} | " + " | ".join(f"{r[c]:.2f}" for c in cols) +
                         f" | {r['onnxruntime dense'] / r['TVM pruned']:.2f}x | {r['rel_error_vs_onnxruntime']:.1e} |")
    return "\n".join(lines)


def run_bench(models=("mobilenet_v2", "efficientnet_b0"), e2e_models=("mobilenet_v2", "mobilenet_v3_small",
              "efficientnet_b0"), layers: bool = True, end_to_end: bool = True, rounds: int = 5,
              workdir=None, say=print, plans=tuple(PLANS)) -> dict:
    from .timing import cpu_count

    result = {"threads": cpu_count(), "rounds": rounds, "layers": [], "end_to_end": []}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(workdir or tmp)
        work.mkdir(parents=True, exist_ok=True)
        if layers:
            for m in models:
                say(f"per-layer DW benchmark: {m}")
                result["layers"] += bench_layers(m, work, rounds, say)
        if end_to_end:
            say("end-to-end benchmark")
            for plan in plans:
                for m in e2e_models:
                    result["end_to_end"].append(bench_end_to_end(m, work, rounds, say, plan))
    return result


def save(result: dict, json_path=None, markdown_path=None) -> None:
    from .outputs import output_set

    with output_set() as out:
        if json_path:
            out.path(json_path).write_text(json.dumps(result, indent=1))
        if markdown_path:
            out.path(markdown_path).write_text(markdown(result) + "\n")
