"""Zoo models: deterministic, non-trivial BatchNorm, ONNX export equal to torch."""
import numpy as np
import pytest
import torch

from conftest import run_ort
from tvm_dsprune import zoo

DW_COUNTS = {"mobilenet_v2": 17, "mobilenet_v3_small": 11, "efficientnet_b0": 16, "tiny": 3}


@pytest.mark.parametrize("name", list(zoo.MODELS))
def test_export_matches_torch(name, zoo_onnx):
    model = zoo.build(name)
    x = zoo.example_input(name, batch=2, seed=1)
    with torch.no_grad():
        ref = model(x).numpy()
    y = run_ort(zoo_onnx(name), x.numpy())
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())
    assert ref.std() > 0.05                       # activations survive the depth


@pytest.mark.parametrize("name", list(zoo.MODELS))
def test_structure_and_batchnorm(name):
    model = zoo.build(name)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert sum(m.groups > 1 and m.groups == m.in_channels for m in convs) == DW_COUNTS[name]
    for bn in (m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)):
        assert bn.running_var.std() > 0 and bn.running_mean.abs().max() > 0


def test_seeded_and_deterministic():
    a, b, c = zoo.build("tiny", 0), zoo.build("tiny", 0), zoo.build("tiny", 1)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


def test_parameter_counts_match_the_reference_architectures():
    counts = {n: sum(p.numel() for p in zoo.build(n).parameters()) for n in
              ("mobilenet_v2", "mobilenet_v3_small", "efficientnet_b0")}
    # torchvision: 3,504,872 / 2,542,856 / 5,288,548 parameters
    assert counts == {"mobilenet_v2": 3504872, "mobilenet_v3_small": 2542856, "efficientnet_b0": 5288548}


def test_unknown_model():
    from tvm_dsprune.errors import InputError
    with pytest.raises(InputError, match="unknown zoo model"):
        zoo.entry("resnet50")
