"""The mask step on torch modules: same masks as numpy, kept through fine-tuning, back to ONNX."""
import numpy as np
import pytest
import torch

from conftest import onnx_weights, run_ort
from tvm_dsprune import zoo
from tvm_dsprune.pruning import dcp, torch_module as tm
from tvm_dsprune.pruning.onnx_prune import prune


def test_masks_are_the_numpy_algorithms_on_the_module_weights():
    model = zoo.build("tiny")
    raw = {n: m.weight.detach().numpy().copy() for n, m in model.named_modules()
           if isinstance(m, torch.nn.Conv2d) and m.groups > 1}
    result = tm.prune_module(model, dw="dcp-b:0.6", target="cuda")
    for name, w in raw.items():
        np.testing.assert_array_equal(result.masks[f"{name}.weight"], dcp.bwt_mask(w, 0.6, 32))
        m = dict(model.named_modules())[name]
        assert hasattr(m, "weight_orig") and hasattr(m, "weight_mask")
        assert (m.weight.detach().numpy()[~result.masks[f"{name}.weight"]] == 0).all()


def test_layer_order_and_feeds_dw_match_the_onnx_path(zoo_onnx):
    model = zoo.build("efficientnet_b0")
    t_layers, _, _ = tm.find_layers(model)
    from tvm_dsprune.frontend import onnx_model
    import onnx
    o_layers, _ = onnx_model.find_layers(onnx.load(str(zoo_onnx("efficientnet_b0"))))
    assert [L.weight_name for L in t_layers] == [L.weight_name for L in o_layers]
    assert [L.kind for L in t_layers] == [L.kind for L in o_layers]
    assert [L.feeds_dw for L in t_layers] == [L.feeds_dw for L in o_layers]


def test_fallback_without_fx_gives_the_same_feeds_dw():
    model = zoo.build("mobilenet_v2")
    modules = {n: m for n, m in model.named_modules() if tm._kind(m)}
    order, feeds = tm._fallback_order(modules)
    traced_order, traced_feeds = tm._trace(model, modules)
    assert order == traced_order and feeds == traced_feeds


def test_finetune_keeps_masks_and_learns():
    model = zoo.build("tiny")
    res = tm.prune_module(model, dw="dcp-bh:0.8", pw="group-optimal:0.75", fc="magnitude:0.5", prune_last=True)
    g = torch.Generator().manual_seed(0)
    data = [(torch.randn(16, 3, 32, 32, generator=g), torch.randint(0, 10, (16,), generator=g)) for _ in range(4)]
    losses = tm.finetune(model, data * 6, lr=0.05, weight_decay=1e-4)
    assert np.mean(losses[-4:]) < np.mean(losses[:4])
    installed = tm.current_masks(model)
    assert set(installed) == {k for k, m in res.masks.items() if not m.all()}
    for name, mask in installed.items():
        np.testing.assert_array_equal(mask, res.masks[name])
        module = dict(model.named_modules())[name[:-len(".weight")]]
        assert (module.weight.detach().numpy()[~mask] == 0).all()


def test_export_matches_torch_and_masks_apply_to_the_zoo_onnx(zoo_onnx, tmp_path):
    model = zoo.build("tiny")
    res = tm.prune_module(model, dw="dcp-bh:0.7", pw="filter-l2:0.5")
    path = tm.export_pruned_onnx(model, tmp_path / "t.onnx", (1, 3, 32, 32))
    x = zoo.example_input("tiny", batch=3)
    with torch.no_grad():
        ref = model(x).numpy()
    np.testing.assert_allclose(run_ort(path, x.numpy()), ref, rtol=1e-4, atol=1e-5)
    assert hasattr(dict(model.named_modules())["features.1.block.1.0"], "weight_mask")   # still masked
    # the torch masks are keyed like the zoo ONNX initializers: they apply with --masks-in
    from tvm_dsprune.frontend import arrays
    arrays.save_masks(tmp_path / "m.npz", res.masks)
    prune(zoo_onnx("tiny"), tmp_path / "p.onnx", masks_in=tmp_path / "m.npz")
    w = onnx_weights(tmp_path / "p.onnx")
    for k, m in res.masks.items():
        assert (w[k][~m] == 0).all()


def test_apply_masks_rejects_wrong_shapes():
    from tvm_dsprune.errors import InputError
    model = zoo.build("tiny")
    with pytest.raises(InputError, match="does not fit weight"):
        tm.apply_masks(model, {"features.1.block.1.0.weight": np.ones((2, 2), bool)})
    with pytest.raises(InputError, match="names no Conv2d/Linear"):
        tm.apply_masks(model, {"nothing.weight": np.ones((2, 2), bool)})
