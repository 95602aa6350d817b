"""Where the time goes: every kernel of a package timed inside the model, beside onnxruntime's
own per-node profile of the same model.

TVM side: the Relax VM's instrument hook records every call the VM makes during one run of the
model (kernels and its own builtins: tensor allocations, reshapes) with its arguments. Each
kernel is timed twice: in the model (the hook takes the clock before and after every call, over
`rounds` runs of the model; median per call; a few microseconds of the hook's own return to
Python land in each call) and alone, on those very arguments, with TVM's time_evaluator
(warm caches, back to back). In the model is what the model pays, and what onnxruntime's own
profile measures too; alone minus in the model is what the caches and the thread pool cost a
kernel between other kernels. The package's kernel table (meta.json "kernels", written by
compile) names the layer each kernel computes, so every row has the layer's MACs and the
GFLOP/s achieved. The wall time of the model (no hook) beside the sum of the kernels shows what
the VM itself costs.

onnxruntime side: its own profiler (SessionOptions.enable_profiling) on the same model and
inputs, one row per node, matched to layers by node name.
"""
from __future__ import annotations

import json
import statistics
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np


def _kernel_calls(events: list[tuple[str, float]]) -> list[tuple[str, float]]:
    return [(s, t) for s, t in events if not s.startswith("vm.")]


def tvm_profile(package, feed: dict, rounds: int = 30) -> dict:
    """Per-call medians (us) of the package's kernels, the VM's builtin calls, and the wall
    time (ms) of the model."""

    from ..runtime.session import LoadedModel

    model = LoadedModel(package)
    wall = model.time(feed, repeat=max(5, rounds // 2))
    args = model._args(feed)
    vm, calls, library = record_calls(model, args)
    in_model = _in_model_times(vm, args, rounds)
    # The layers of each kernel, in call order (one fused function may serve several layers; a
    # kernel the VM runs as a builtin, a reshape, has an entry but no call).
    layers_of: dict[str, list[str]] = defaultdict(list)
    for entry in model.package.meta.get("kernels", []):
        layers_of[entry["kernel"]].append(entry["layer"])
    rows, builtins = [], defaultdict(int)
    for j, (symbol, call_args) in enumerate(calls):
        if symbol.startswith("vm.") or not library.implements_function(symbol, True):
            builtins[symbol] += 1
            continue
        evaluator = library.time_evaluator(symbol, model.device, number=1, repeat=rounds, min_repeat_ms=1)
        us = statistics.median(evaluator(*call_args).results) * 1e6
        layer = layers_of[symbol].pop(0) if layers_of.get(symbol) else ""
        rows.append({"kernel": symbol, "layer": layer, "us": us, "in_model_us": in_model[j]})
    return {"wall_ms": float(np.median(wall)), "kernels": rows,
            "builtins": {k: {"calls": c} for k, c in sorted(builtins.items())}, "calls": len(calls)}


def record_calls(model, args):
    """Every call the Relax VM makes in one run of a LoadedModel on `args`, in order, as
    (symbol, [arguments]) (kernels and the VM's own builtins, "vm.*"); with the VM that made
    them and the library its kernels are in."""
    from tvm import relax

    vm = relax.VirtualMachine(model.library, model.device)
    calls: list[tuple[str, list]] = []

    def hook(func, symbol, before_run, ret_value, *hook_args):
        if before_run:
            calls.append((str(symbol), list(hook_args)))
        return 0

    vm.set_instrument(hook)
    vm["main"](*args)
    return vm, calls, model.library.imports[0] if model.library.imports else model.library


def _in_model_times(vm, args, rounds: int) -> list[float]:
    """Median microseconds of each VM call (in call order) over `rounds` runs of the model, the
    clock taken by the instrument hook right before and after the call."""
    import time

    per_call: list[list[float]] = []
    state = {"i": 0, "t": 0.0}

    def hook(func, symbol, before_run, ret_value, *hook_args):
        if before_run:
            state["t"] = time.perf_counter()
        else:
            dt = (time.perf_counter() - state["t"]) * 1e6
            if state["i"] == len(per_call):
                per_call.append([])
            per_call[state["i"]].append(dt)
            state["i"] += 1
        return 0

    vm.set_instrument(hook)
    for _ in range(rounds):
        state["i"] = 0
        vm["main"](*args)
    return [statistics.median(v) for v in per_call]


def ort_profile(onnx_model, feed: dict, rounds: int = 30) -> dict:
    """onnxruntime's own per-node profile: {node name: median us}, and the wall time (ms)."""
    import onnxruntime as ort

    from ..targets import cpu_count

    with tempfile.TemporaryDirectory() as tmp:
        so = ort.SessionOptions()
        so.intra_op_num_threads = cpu_count()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.enable_profiling = True
        so.profile_file_prefix = str(Path(tmp) / "ort")
        sess = ort.InferenceSession(str(onnx_model), so, providers=["CPUExecutionProvider"])
        for _ in range(3):
            sess.run(None, feed)
        import time

        walls = []
        for _ in range(rounds):
            t = time.perf_counter()
            sess.run(None, feed)
            walls.append((time.perf_counter() - t) * 1e3)
        trace = json.loads(Path(sess.end_profiling()).read_text())
    per_node: dict[str, list[float]] = defaultdict(list)
    ops: dict[str, str] = {}
    for ev in trace:
        if ev.get("cat") == "Node" and ev.get("name", "").endswith("_kernel_time"):
            name = ev["name"][:-len("_kernel_time")]
            per_node[name].append(float(ev["dur"]))
            ops[name] = ev.get("args", {}).get("op_name", "")
    runs = rounds + 3
    nodes = {n: {"us": statistics.median(v[-rounds:]) if len(v) >= runs else statistics.median(v), "op": ops[n]}
             for n, v in per_node.items()}
    return {"wall_ms": statistics.median(walls), "nodes": nodes}


def _tensor_owners(onnx_model) -> dict[str, str]:
    """Tensor name -> the conv / dense layer whose result it is, through the activations and
    residual adds that onnxruntime fuses into the layer's kernel (a fused node is named after
    its output tensor)."""
    from ..frontend.onnx_model import load

    proto = load(onnx_model)
    owner: dict[str, str] = {}
    born: dict[str, int] = {}
    follow = {"Relu", "Clip", "Sigmoid", "HardSigmoid", "HardSwish", "LeakyRelu", "Tanh", "Add", "Mul",
              "BatchNormalization", "Identity"}
    for i, node in enumerate(proto.graph.node):
        for out in node.output:
            born[out] = i
        name = node.name or node.output[0]
        if node.op_type in ("Conv", "Gemm", "MatMul"):
            owner[node.output[0]] = name
            owner[name] = name
        elif node.op_type in follow:
            owned = [t for t in node.input if t in owner]
            if owned:
                owner[node.output[0]] = owner[max(owned, key=lambda t: born.get(t, -1))]
    return owner


def _ort_layer_times(nodes: dict, owners: dict[str, str]) -> dict[str, float]:
    """onnxruntime node times by layer: a node named after a layer, or after a tensor a layer
    produced (onnxruntime's NCHWc nodes are named `<output tensor>_nchwc`)."""
    out: dict[str, float] = defaultdict(float)
    for node, info in nodes.items():
        key = node[:-len("_nchwc")] if node.endswith("_nchwc") else node
        if key in owners:
            out[owners[key]] += info["us"]
    return out


def profile(package, onnx_model=None, rounds: int = 30, say=lambda m: None) -> dict:
    """The TVM profile of `package`, and onnxruntime's of `onnx_model` (the model the package
    was compiled from) when given; rows by layer in model order, with MACs and GFLOP/s."""
    from ..frontend.onnx_model import layer_macs
    from ..runtime import package as pkg
    from ..runtime.run import load_inputs

    meta = pkg.read_meta(package)
    from ..frontend.model_io import TensorInfo

    feed = load_inputs(None, [TensorInfo.from_dict(d) for d in meta["inputs"]])
    say(f"timing every kernel of {package} ({rounds} runs)")
    tvm_side = tvm_profile(package, feed, rounds)
    macs = layer_macs(onnx_model) if onnx_model else {}
    order = [r["name"] for r in meta["report"]["layers"]]
    ort_side = None
    if onnx_model:
        say(f"onnxruntime's profile of {onnx_model} ({rounds} runs)")
        ort_side = ort_profile(onnx_model, feed, rounds)
    ort_layers = _ort_layer_times(ort_side["nodes"], _tensor_owners(onnx_model)) if ort_side else {}
    per_layer: dict[str, float] = defaultdict(float)
    per_layer_in_model: dict[str, float] = defaultdict(float)
    for row in tvm_side["kernels"]:
        per_layer[row["layer"]] += row["us"]
        per_layer_in_model[row["layer"]] += row["in_model_us"]
    layers = []
    for name in order:
        r = {"layer": name, "macs": macs.get(name, 0), "tvm_us": per_layer.get(name, 0.0),
             "tvm_in_model_us": per_layer_in_model.get(name, 0.0), "ort_us": ort_layers.get(name)}
        r["tvm_gflops"] = 2 * r["macs"] / (r["tvm_in_model_us"] * 1e3) if r["tvm_in_model_us"] else None
        r["ort_gflops"] = 2 * r["macs"] / (r["ort_us"] * 1e3) if r["ort_us"] else None
        layers.append(r)
    kernel_sum = sum(r["us"] for r in tvm_side["kernels"])
    in_model_sum = sum(r["in_model_us"] for r in tvm_side["kernels"])
    other = sum(r["in_model_us"] for r in tvm_side["kernels"] if not r["layer"])
    result = {"package": str(package), "onnx": str(onnx_model) if onnx_model else None, "rounds": rounds,
              "tvm": {"wall_ms": tvm_side["wall_ms"], "kernel_sum_ms": kernel_sum / 1e3,
                      "kernel_in_model_sum_ms": in_model_sum / 1e3,
                      "unlabelled_kernels_ms": other / 1e3,
                      "vm_calls": tvm_side["calls"], "kernel_calls": len(tvm_side["kernels"]),
                      "builtins": tvm_side["builtins"],
                      "alloc_tensor_calls": sum(b["calls"] for k, b in tvm_side["builtins"].items() if "alloc" in k)},
              "kernels": tvm_side["kernels"], "layers": layers}
    if ort_side:
        result["onnxruntime"] = {"wall_ms": ort_side["wall_ms"],
                                 "node_sum_ms": sum(n["us"] for n in ort_side["nodes"].values()) / 1e3,
                                 "nodes": ort_side["nodes"]}
    return result


def markdown(result: dict) -> str:
    t = result["tvm"]
    lines = [f"TVM: wall {t['wall_ms']:.3f} ms; kernels in the model {t['kernel_in_model_sum_ms']:.3f} ms in "
             f"{t['kernel_calls']} calls ({t['unlabelled_kernels_ms']:.3f} ms in kernels of no conv/dense layer), "
             f"the same kernels alone (warm, on their arguments in the model) {t['kernel_sum_ms']:.3f} ms; "
             f"{t['vm_calls'] - t['kernel_calls']} VM builtin calls ({t['alloc_tensor_calls']} tensor allocations); "
             f"wall - kernels in the model = {t['wall_ms'] - t['kernel_in_model_sum_ms']:.3f} ms: the VM's own work; "
             f"in the model - alone = {t['kernel_in_model_sum_ms'] - t['kernel_sum_ms']:.3f} ms: the caches and "
             "the thread pool between kernels."]
    if "onnxruntime" in result:
        o = result["onnxruntime"]
        lines.append(f"onnxruntime: wall {o['wall_ms']:.3f} ms; nodes {o['node_sum_ms']:.3f} ms in {len(o['nodes'])} nodes.")
    lines += ["", "| layer | MMAC | TVM in the model (us) | TVM alone (us) | TVM GFLOP/s | onnxruntime (us) "
                  "| onnxruntime GFLOP/s | TVM / onnxruntime |", "|---|---|---|---|---|---|---|---|"]
    for r in result["layers"]:
        ratio = f"{r['tvm_in_model_us'] / r['ort_us']:.2f}" if r["ort_us"] else "-"
        lines.append(f"| {r['layer'].strip('/').replace('/Conv', '').replace('/Gemm', '')} | {r['macs'] / 1e6:.2f} | "
                     f"{r['tvm_in_model_us']:.1f} | {r['tvm_us']:.1f} | {(r['tvm_gflops'] or 0):.1f} | "
                     f"{r['ort_us'] if r['ort_us'] is None else round(r['ort_us'], 1)} | "
                     f"{(r['ort_gflops'] or 0):.1f} | {ratio} |")
    other = [k for k in result["kernels"] if not k["layer"]]
    if other:
        lines += ["", "Kernels of no conv / dense layer:", "", "| kernel | TVM in the model (us) |", "|---|---|"]
        merged: dict[str, float] = defaultdict(float)
        for k in other:
            merged[k["kernel"]] += k["in_model_us"]
        for name, us in sorted(merged.items(), key=lambda kv: -kv[1]):
            lines.append(f"| {name} | {us:.1f} |")
    return "\n".join(lines)
