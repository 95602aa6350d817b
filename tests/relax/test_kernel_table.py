"""The kernel table (which layer each kernel computes) names the fused sparse kernels and the
row scatter of compact layers, which FuseTIR leaves without the layer attribute."""
from tvm_dsprune.pruning.onnx_prune import prune
from tvm_dsprune.relax.lowering import lower


def test_fused_sparse_kernels_and_row_scatters_have_their_layers(zoo_onnx, tmp_path):
    pruned = tmp_path / "p.onnx"
    prune(zoo_onnx("tiny"), pruned, dw="dcp-bh:0.8", pw="filter-l2:0.5", target="llvm")
    low = lower(pruned, "llvm", sparse="auto", stop_after="schedule")
    by_name = {r.name: r for r in low.records}
    calls = low.kernels
    dr = [c for c in calls if "dsprune_dr_depthwise" in c["kernel"]]
    assert len(dr) == 3 and all(by_name[c["layer"]].op == "dw" and by_name[c["layer"]].decision == "sparse"
                                for c in dr)
    assert len({c["layer"] for c in dr}) == 3
    scatters = [i for i, c in enumerate(calls) if "dsprune_row_scatter" in c["kernel"]]
    assert scatters
    for i in scatters:                          # the dense kernel on the kept filters, then its scatter
        assert calls[i]["layer"] == calls[i - 1]["layer"] != ""
        assert by_name[calls[i]["layer"]].decision == "compact"
