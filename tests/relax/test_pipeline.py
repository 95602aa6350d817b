"""The compile pipeline: epilogues fused into the sparse kernels, every kernel scheduled."""
import tvm

from tvm_dsprune.pruning.onnx_prune import prune
from tvm_dsprune.relax import pipeline as pl
from tvm_dsprune.relax.lowering import lower


def lowered(onnx_path, target="llvm"):
    return lower(onnx_path, target, sparse="on").mod


def test_bias_and_activation_fuse_into_the_sparse_kernels(zoo_onnx, tmp_path):
    pruned = tmp_path / "p.onnx"
    prune(zoo_onnx("tiny"), pruned, dw="dcp-bh:0.8", pw="magnitude:0.8", target="llvm")
    mod = lowered(pruned)
    names = [gv.name_hint for gv, f in mod.functions_items() if isinstance(f, tvm.tirx.PrimFunc)]
    sparse = [n for n in names if "dsprune" in n]
    assert len(sparse) >= 3 + 9 - 2                      # 3 DW + 9 PW layers (identical shapes share one)
    assert all("_add" in n for n in sparse), sparse      # the folded-BN bias rides in every kernel
    dw = [n for n in sparse if "dr_depthwise" in n]
    assert all("maximum" in n and "minimum" in n for n in dw)   # and ReLU6 after it
    assert not [n for n in names if n.split("_")[0] in ("add", "maximum", "minimum", "clip", "relu")]
    for gv, f in mod.functions_items():
        if isinstance(f, tvm.tirx.PrimFunc) and "dsprune" in gv.name_hint:
            assert f.attrs["tirx.is_scheduled"]


def test_cuda_pipeline_binds_every_kernel(zoo_onnx, tmp_path):
    pruned = tmp_path / "p.onnx"
    prune(zoo_onnx("tiny"), pruned, dw="dcp:0.5", pw="nm:2:4", target="cuda")
    assert pl.unscheduled_gpu_functions(lowered(pruned, "cuda")) == []


def test_records_travel_with_the_module_in_model_order(zoo_onnx, tmp_path):
    """The layer records are read back from the lowered module, named after the ONNX layers, in
    the order of the source model, at every stage."""
    from tvm_dsprune.frontend.onnx_model import find_layers, load

    pruned = tmp_path / "p.onnx"
    prune(zoo_onnx("tiny"), pruned, dw="dcp-bh:0.8", pw="magnitude:0.8", target="llvm")
    layers, _ = find_layers(load(pruned))
    for stage in pl.STAGES:
        low = lower(pruned, "llvm", sparse="on", stop_after=stage)
        assert [r.name for r in low.records] == [layer.name for layer in layers]
        assert {r.decision for r in low.records} >= {"sparse"}
