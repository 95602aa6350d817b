"""Per depthwise layer of a zoo model: the layer alone (conv + bias + ReLU, the model's own
weights and input size) in onnxruntime dense, TVM dense, and TVM sparse with DEPrune-B masks at
50/80/90%, all systems of a round in one fresh process (timing.py)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

RATIOS = (0.5, 0.8, 0.9)


def depthwise_layers(onnx_path) -> list[dict]:
    """Every DW conv of a model: name, weight, bias, input shape, stride, padding."""
    import onnx
    from onnx import numpy_helper

    from ..frontend import onnx_model

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
    from .. import targets, zoo
    from ..build.compile import compile
    from ..pruning.dcp import bwt_mask
    from ..runtime.session import LoadedModel
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


