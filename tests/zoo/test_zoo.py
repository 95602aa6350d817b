"""Zoo models: deterministic, non-trivial BatchNorm, ONNX export equal to torch."""
import numpy as np
import pytest
import torch

from conftest import run_ort
from tvm_dsprune import zoo

DW_COUNTS = {"mobilenet_v2": 17, "mobilenet_v3_small": 11, "efficientnet_b0": 16, "tiny": 3, "shufflenet_v2": 19, "db_mv3": 15}


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
              ("mobilenet_v2", "mobilenet_v3_small", "efficientnet_b0", "shufflenet_v2")}
    # torchvision: 3,504,872 / 2,542,856 / 5,288,548 / 2,278,604 parameters
    assert counts == {"mobilenet_v2": 3504872, "mobilenet_v3_small": 2542856, "efficientnet_b0": 5288548,
                      "shufflenet_v2": 2278604}


def test_unknown_model():
    from tvm_dsprune.errors import InputError
    with pytest.raises(InputError, match="unknown zoo model"):
        zoo.entry("resnet50")


def test_shufflenet_export_computes_its_shuffle_shapes_at_run_time(zoo_onnx, tmp_path):
    """The exporter writes torchvision's channel shuffle on computed shapes: Shape -> Gather ->
    Concat -> Reshape, Transpose; the frontend folds them for a static input."""
    import onnx

    from tvm_dsprune.frontend.normalize import normalize

    proto = onnx.load(str(zoo_onnx("shufflenet_v2")))
    ops = [n.op_type for n in proto.graph.node]
    assert ops.count("Transpose") == 16 and "Shape" in ops
    shuffles = [n for n in proto.graph.node if n.op_type == "Reshape"]
    inits = {i.name for i in proto.graph.initializer}
    assert all(n.input[1] not in inits for n in shuffles)          # computed, not constant
    folded = normalize(proto, {"input": (1, 3, 224, 224)}).proto
    assert not any(n.op_type in ("Shape", "Gather") for n in folded.graph.node)
    onnx.save(folded, str(tmp_path / "folded.onnx"))
    x = zoo.example_input("shufflenet_v2", seed=2).numpy()
    np.testing.assert_allclose(run_ort(tmp_path / "folded.onnx", x), run_ort(zoo_onnx("shufflenet_v2"), x),
                               rtol=1e-5, atol=1e-5)
