"""The mask step on ONNX zoo models: pruned models run in onnxruntime, weights = original x mask."""
import json

import numpy as np
import onnx
import pytest

from conftest import onnx_weights, run_ort
from tvm_dsprune import zoo
from tvm_dsprune.errors import InputError
from tvm_dsprune.frontend import arrays, onnx_model
from tvm_dsprune.pruning import dr
from tvm_dsprune.pruning.onnx_prune import prune

ZOO = ["mobilenet_v2", "mobilenet_v3_small", "efficientnet_b0", "tiny"]
SPECS = [
    dict(dw="dcp-bh:0.8", pw="filter-l2:0.5"),
    dict(dw="dcp:0.7", pw="group-optimal:0.9", group="1x4"),
    dict(dw="dcp-b:0.7", pw="group-greedy:0.9", group="1x4", fc="group-aligned:0.5"),
    dict(dw="channel-l2:0.5", pw="group-aligned:0.9", group="4x4"),
    dict(pw="tile-thread:0.5", fc="tile-group:0.5"),
    dict(pw="nm:2:4", fc="nm:2:4"),
    dict(dw="magnitude:0.9", pw="magnitude:0.9", fc="magnitude:0.9"),
]


@pytest.mark.parametrize("name", ZOO)
@pytest.mark.parametrize("spec", SPECS, ids=lambda s: "+".join(f"{k}={v}" for k, v in s.items()))
def test_pruned_zoo_model_runs_and_weights_equal_original_times_mask(name, spec, zoo_onnx, tmp_path):
    src = zoo_onnx(name)
    out, masks_path, report_path = tmp_path / "p.onnx", tmp_path / "m.npz", tmp_path / "r.json"
    result = prune(src, out, masks=masks_path, report=report_path, **spec)
    before, after = onnx_weights(src), onnx_weights(out)
    masks = arrays.load(masks_path, "mask file")
    assert set(before) == set(after)
    for key, w in before.items():
        if key in masks:
            np.testing.assert_array_equal(after[key], w * masks[key])
        else:
            np.testing.assert_array_equal(after[key], w)          # everything else unchanged
    x = zoo.example_input(name, batch=2).numpy()
    y = run_ort(out, x)
    assert y.shape == run_ort(src, x).shape and np.isfinite(y).all()
    report = json.loads(report_path.read_text())
    assert report["layers"] == json.loads(json.dumps(result.report["layers"]))
    for row in report["layers"]:
        if row["weight"] in masks:
            assert row["ratio"] == pytest.approx(1 - masks[row["weight"]].mean())
    # the graph is the same apart from initializer values
    g0, g1 = onnx.load(str(src)).graph, onnx.load(str(out)).graph
    assert [n.SerializeToString() for n in g0.node] == [n.SerializeToString() for n in g1.node]


def test_layer_kinds_of_mobilenet_v2(zoo_onnx):
    layers, _ = onnx_model.find_layers(onnx.load(str(zoo_onnx("mobilenet_v2"))))
    kinds = [L.kind for L in layers]
    assert kinds.count("dw") == 17 and kinds.count("pw") == 34 and kinds.count("conv") == 1
    assert kinds[0] == "conv" and kinds[-1] == "fc"
    pw = [L for L in layers if L.kind == "pw"]
    expand = [L for L in pw if "conv.0.0" in L.name and "features.1/" not in L.name]
    assert expand and all(L.feeds_dw for L in expand)                # PW-conv1 feeds the DW conv
    project = [L for L in pw if not L.feeds_dw]
    assert len(project) == 18                                        # 17 projections + the last 1x1


def test_dcp_bh_report(zoo_onnx):
    r = prune(zoo_onnx("mobilenet_v2"), dw="dcp-bh:0.78", pw="filter-l2:0.5").report
    dw = [row for row in r["layers"] if row["kind"] == "dw"]
    for row in dw:
        kept, cols = row["subgemm_kept"], row["subgemm_columns"]
        assert len(kept) == -(-row["shape"][0] // 32)
        full = [k for k, c in zip(kept, cols) if c == max(cols)]
        assert all(k % 32 == 0 for k in full) and row["hsr"]["pattern"] in "uoa"
    pat = r["summary"]["hsr_pattern"]
    assert pat == f"{sum(x['hsr']['pattern'] == 'u' for x in dw)}u{sum(x['hsr']['pattern'] == 'o' for x in dw)}o"
    assert abs(r["summary"]["dw"]["ratio"] - 0.78) < 0.06
    # filter pruning skipped the PW layers feeding a DW conv
    assert all(row["method"] == "dense" for row in r["layers"] if row["kind"] == "pw" and row["feeds_dw"])


def test_dcp_real_dw_below_target(zoo_onnx):
    """DCP's one threshold per layer leaves sub-GEMMs unbalanced: Real DW < DW ratio; BWT fixes it."""
    s_dcp = prune(zoo_onnx("mobilenet_v2"), dw="dcp:0.78").report["summary"]["dw"]
    s_bwt = prune(zoo_onnx("mobilenet_v2"), dw="dcp-b:0.78").report["summary"]["dw"]
    assert s_dcp["real_ratio_of_pruned"] < s_dcp["ratio_of_pruned"] - 0.05
    assert s_bwt["real_ratio_of_pruned"] == pytest.approx(s_bwt["ratio_of_pruned"], abs=0.01)


def test_first_and_last_stay_dense_unless_asked(zoo_onnx):
    src = zoo_onnx("tiny")
    rows = prune(src, dw="dcp:0.5", pw="magnitude:0.5", fc="magnitude:0.5", conv="magnitude:0.5").report["layers"]
    assert rows[0]["method"] == "dense" and "first conv" in rows[0]["note"]
    assert rows[-1]["method"] == "dense" and "last layer" in rows[-1]["note"]
    rows = prune(src, conv="magnitude:0.5", fc="magnitude:0.5", prune_first=True, prune_last=True).report["layers"]
    assert rows[0]["ratio"] == pytest.approx(0.5, abs=0.01) and rows[-1]["ratio"] == pytest.approx(0.5, abs=0.01)


def test_plan_file_overrides(zoo_onnx, tmp_path):
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({
        "dw": "dcp-b:0.5", "pw": "magnitude:0.3",
        "layers": {"features.2.block.3.0.weight": "dense",
                   "features.3.block.[02].0.weight": {"method": "group-optimal:0.75", "group": "2x2"}}}))
    rows = {r["weight"]: r for r in prune(zoo_onnx("tiny"), plan=plan).report["layers"]}
    assert rows["features.2.block.3.0.weight"]["method"] == "dense"
    assert rows["features.3.block.0.0.weight"]["method"] == "group-optimal"
    assert rows["features.3.block.0.0.weight"]["group"] == [2, 2]
    assert rows["features.3.block.2.0.weight"]["method"] == "group-optimal"
    assert rows["features.3.block.1.0.weight"]["method"] == "dcp-b"   # the DW layer between them
    assert rows["features.1.block.0.0.weight"]["ratio"] == pytest.approx(0.3, abs=0.01)
    # a DW layer cannot take a group method: the override must name a method it accepts
    plan.write_text(json.dumps({"layers": {"/features/features.3/*/Conv": "group-optimal:0.5"}}))
    with pytest.raises(InputError, match="does not apply to depthwise"):
        prune(zoo_onnx("tiny"), plan=plan)
    # explicit arguments win over the plan file
    plan.write_text(json.dumps({"dw": "dcp-b:0.5"}))
    r = prune(zoo_onnx("tiny"), plan=plan, dw="dcp:0.2").report
    assert r["options"]["dw"] == "dcp:0.2"


def test_masks_in_reproduces_a_pruning(zoo_onnx, tmp_path):
    src = zoo_onnx("tiny")
    prune(src, tmp_path / "a.onnx", dw="dcp-bh:0.7", pw="group-optimal:0.8", masks=tmp_path / "m.npz")
    r = prune(src, tmp_path / "b.onnx", masks_in=tmp_path / "m.npz")
    a, b = onnx_weights(tmp_path / "a.onnx"), onnx_weights(tmp_path / "b.onnx")
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    assert any(row["method"] == "masks-file" for row in r.report["layers"])


def test_geometry_comes_from_the_target(zoo_onnx):
    cuda = prune(zoo_onnx("mobilenet_v2"), dw="dcp-b:0.78", target="cuda").report
    mali = prune(zoo_onnx("mobilenet_v2"), dw="dcp-b:0.78", target="mali").report
    from tvm_dsprune import schedules
    for rep, name in ((cuda, "cuda"), (mali, "mali")):
        g = schedules.lookup(name).geometry.dr_group
        assert rep["geometry"]["dr_group"] == g
        row = next(r for r in rep["layers"] if r["kind"] == "dw" and r["shape"][0] == 960)
        assert len(row["subgemm_kept"]) == 960 // g
    custom = prune(zoo_onnx("tiny"), dw="dcp-b:0.5", target='{"kind": "cuda", "arch": "sm_87"}').report
    assert custom["geometry"]["dr_group"] == 32


def test_model_without_depthwise_is_a_reported_no_op(tmp_path):
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.random.default_rng(0).standard_normal((8, 3, 3, 3)).astype(np.float32), "w")
    fc = numpy_helper.from_array(np.random.default_rng(1).standard_normal((4, 8)).astype(np.float32), "fc")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"], name="conv", pads=[1, 1, 1, 1]),
         helper.make_node("GlobalAveragePool", ["y"], ["p"]), helper.make_node("Flatten", ["p"], ["f"]),
         helper.make_node("Gemm", ["f", "fc"], ["out"], name="gemm", transB=1)],
        "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 4])], [w, fc])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    path = tmp_path / "nodw.onnx"
    onnx.save(model, str(path))
    r = prune(path, tmp_path / "out.onnx", dw="dcp-bh:0.8")
    assert any("no depthwise conv" in n for n in r.notes)
    np.testing.assert_array_equal(onnx_weights(tmp_path / "out.onnx")["w"], onnx_weights(path)["w"])


def test_matmul_and_gemm_transposed_weights(tmp_path):
    """fc rows are outputs whatever the storage: Gemm transB=0 and MatMul store W as [K, N]."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    a = rng.standard_normal((16, 12)).astype(np.float32)   # [K, N]
    b = rng.standard_normal((12, 6)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "a"], ["h"], name="g0"),
         helper.make_node("MatMul", ["h", "b"], ["y"], name="m1")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 6])],
        [numpy_helper.from_array(a, "a"), numpy_helper.from_array(b, "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    path = tmp_path / "mm.onnx"
    onnx.save(model, str(path))
    r = prune(path, tmp_path / "o.onnx", fc="filter-l2:0.5", prune_first=True, prune_last=True)
    w = onnx_weights(tmp_path / "o.onnx")
    assert (np.abs(w["a"]).sum(0) == 0).sum() == 6        # whole output columns of [K, N] removed
    assert (np.abs(w["b"]).sum(0) == 0).sum() == 3
    assert [row["kind"] for row in r.report["layers"]] == ["fc", "fc"]


# -- bad input: one clear message, no partial output ----------------------------------------

BAD = [
    (dict(dw="dcp-bh:1.0"), "outside \\[0, 1\\)"),
    (dict(dw="dcp-bh:-0.1"), "outside \\[0, 1\\)"),
    (dict(dw="dcp-bh:abc"), "not a number"),
    (dict(dw="prune-it:0.5"), "unknown pruning method 'prune-it'"),
    (dict(pw="dcp-bh:0.5"), "does not apply to pointwise"),
    (dict(pw="nm:5:4"), "needs 0 < N <= M"),
    (dict(pw="group-optimal:0.9", group="1x400"), "group 1x400 does not fit"),
    (dict(pw="group-optimal:0.9", group="4by4"), "is not ROWSxCOLS"),
    (dict(dw="dcp:0.5", target="tpu"), "unknown target 'tpu'"),
]


@pytest.mark.parametrize("kwargs,message", BAD, ids=[m for _, m in BAD])
def test_bad_arguments_fail_cleanly(kwargs, message, zoo_onnx, tmp_path):
    outs = dict(output=tmp_path / "p.onnx", masks=tmp_path / "m.npz", report=tmp_path / "r.json")
    with pytest.raises(InputError, match=message):
        prune(zoo_onnx("tiny"), **outs, **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_missing_and_non_onnx_files(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        prune(tmp_path / "nope.onnx", tmp_path / "p.onnx", dw="dcp:0.5")
    junk = tmp_path / "junk.onnx"
    junk.write_text("this is not a model\n" * 10)
    with pytest.raises(InputError, match="is not an ONNX model"):
        prune(junk, tmp_path / "p.onnx", dw="dcp:0.5")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junk.onnx"]


def test_mask_file_of_wrong_shapes(zoo_onnx, tmp_path):
    src = zoo_onnx("tiny")
    prune(src, masks=tmp_path / "m.npz", dw="dcp:0.5")
    masks = arrays.load(tmp_path / "m.npz", "mask file")
    key = next(k for k in masks if masks[k].ndim == 4)
    masks[key] = np.ones((3, 3), bool)
    bad = tmp_path / "bad.npz"
    arrays.save_masks(bad, masks)
    with pytest.raises(InputError, match=f"mask '{key}' has shape \\(3, 3\\)"):
        prune(src, tmp_path / "p.onnx", masks_in=bad, report=tmp_path / "r.json")
    assert not (tmp_path / "p.onnx").exists() and not (tmp_path / "r.json").exists()
    np.savez(tmp_path / "other.npz", **{"not.a.weight": np.ones(3, bool)})
    with pytest.raises(InputError, match="name no prunable weight"):
        prune(src, masks_in=tmp_path / "other.npz")
    np.save(tmp_path / "plain.npy", np.ones(3, bool))
    with pytest.raises(InputError, match="not a .npz archive"):
        prune(src, masks_in=tmp_path / "plain.npy")
    np.savez(tmp_path / "obj.npz", **{key: np.array([{"a": 1}], dtype=object)})
    with pytest.raises(InputError, match="other than plain arrays"):
        prune(src, masks_in=tmp_path / "obj.npz")


def test_report_counts_per_subgemm_of_partial_layers(zoo_onnx):
    rows = prune(zoo_onnx("tiny"), dw="dcp-b:0.5").report["layers"]
    dw = {r["shape"][0]: r for r in rows if r["kind"] == "dw"}
    assert dw[40]["subgemm_columns"] == [32 * 9, 8 * 9]
    assert dw[72]["subgemm_columns"] == [32 * 25, 32 * 25, 8 * 25]
    assert dw[88]["subgemm_columns"] == [32 * 49, 32 * 49, 24 * 49]
    w = onnx_weights(zoo_onnx("tiny"))
    for r in dw.values():
        assert r["subgemm_kept"][0] == r["subgemm_columns"][0] // 2
        m = np.abs(w[r["weight"]]) > 0
        assert dr.kept_per_subgemm(m, 32).sum() >= sum(r["subgemm_kept"])
