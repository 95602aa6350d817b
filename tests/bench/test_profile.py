"""`tvm-dsprune profile`: every conv / dense layer of the model gets its kernel's time in the
model and alone, onnxruntime's time for the same layer, and its MACs (checked against a count
made here from the ONNX graph's shapes); bad input ends in one clear message."""
import json

import numpy as np
import onnx
from onnx import shape_inference

from tvm_dsprune.bench.profile import markdown
from tvm_dsprune.build.compile import compile


def graph_macs(path) -> dict:
    """MACs of every Conv / Gemm node from the shapes onnx infers."""
    model = shape_inference.infer_shapes(onnx.load(str(path)))
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in list(model.graph.value_info) + list(model.graph.output) + list(model.graph.input)}
    weights = {t.name: list(t.dims) for t in model.graph.initializer}
    out = {}
    for node in model.graph.node:
        if node.op_type == "Conv":
            w, y = weights[node.input[1]], shapes[node.output[0]]       # w: [F, K/groups, kh, kw]
            out[node.name] = int(np.prod(y[1:])) * (w[1] * w[2] * w[3])
        elif node.op_type in ("Gemm", "MatMul"):
            w = weights[node.input[1]]
            out[node.name] = w[0] * w[1]
    return out


def test_profile_times_every_layer_in_the_model_and_alone(tmp_path, zoo_onnx):
    from tvm_dsprune.cli import main

    src = zoo_onnx("tiny")
    compile(src, "llvm", tmp_path / "t.tar")
    out, png = tmp_path / "p.json", tmp_path / "p.png"
    assert main(["profile", str(tmp_path / "t.tar"), "--onnx", str(src), "--rounds", "3", "--json", str(out),
                 "--plot", str(png)]) == 0
    result = json.loads(out.read_text())
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    macs = graph_macs(src)
    rows = {r["layer"]: r for r in result["layers"]}
    assert set(rows) == set(macs)
    for name, r in rows.items():
        assert r["macs"] == macs[name], name
        assert r["tvm_in_model_us"] > 0 and r["tvm_us"] > 0 and r["ort_us"] and r["ort_us"] > 0, name
    t = result["tvm"]
    in_model = sum(k["in_model_us"] for k in result["kernels"]) / 1e3
    assert abs(t["kernel_in_model_sum_ms"] - in_model) < 1e-9 and t["alloc_tensor_calls"] >= 1
    assert t["vm_calls"] > t["kernel_calls"] == len(result["kernels"])
    table = markdown(result).split("\n\n")[1].splitlines()
    assert all(line.count("|") == table[0].count("|") for line in table)


def test_profile_of_a_missing_package_is_one_clear_message(tmp_path, capsys):
    from tvm_dsprune.cli import main

    assert main(["profile", str(tmp_path / "nope.tar")]) == 2
    err = capsys.readouterr().err
    assert "nope.tar" in err and "Traceback" not in err


def test_the_layer_plot_draws_each_layers_ratio_to_onnxruntime(tmp_path):
    from tvm_dsprune import plots

    layers = [{"layer": "/a/Conv", "tvm_in_model_us": 30.0, "ort_us": 60.0},
              {"layer": "/b/Conv", "tvm_in_model_us": 50.0, "ort_us": None},     # no onnxruntime node
              {"layer": "/features/features.2/conv/conv.0/conv.0.0/Conv", "tvm_in_model_us": 90.0, "ort_us": 45.0}]
    bars = plots.layer_ratios(layers, tmp_path / "l.png")
    assert bars == [("/a/Conv", 0.5), ("/features/features.2/conv/conv.0/conv.0.0/Conv", 2.0)]
    assert plots._short(layers[2]["layer"]) == "features.2 conv.0.0"
    assert (tmp_path / "l.png").read_bytes()[:4] == b"\x89PNG"


def test_a_plot_without_the_onnx_model_is_one_message_and_no_file(tmp_path, capsys):
    from tvm_dsprune.cli import main

    assert main(["profile", str(tmp_path / "t.tar"), "--plot", str(tmp_path / "p.png")]) == 2
    err = capsys.readouterr().err
    assert "--onnx" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []
