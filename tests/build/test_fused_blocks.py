"""Depthwise convs fused with the group-sparse 1x1 conv after them, end to end: inverted residual
blocks of odd channel counts (3x3 and 5x5 depthwise convs, stride 1 and 2, ReLU6 and plain ReLU,
a residual add, a bias-free depthwise conv), exported by torch and pruned with the cpu-sparse
preset, compile with the pairs fused and equal onnxruntime on the pruned model."""
import numpy as np
import pytest
import torch
from torch import nn

from conftest import run_ort
from tvm_dsprune.build.compile import compile
from tvm_dsprune.frontend.torch_export import export_onnx
from tvm_dsprune.pruning.onnx_prune import prune
from tvm_dsprune.runtime.session import LoadedModel

pytestmark = pytest.mark.slow


class Block(nn.Module):
    def __init__(self, cin, hidden, cout, k, stride, act, bn=True):
        super().__init__()
        self.expand = nn.Sequential(nn.Conv2d(cin, hidden, 1, bias=False), nn.BatchNorm2d(hidden), act())
        dw = [nn.Conv2d(hidden, hidden, k, stride, k // 2, groups=hidden, bias=False)]
        self.dw = nn.Sequential(*dw, *([nn.BatchNorm2d(hidden)] if bn else []), act())
        self.project = nn.Sequential(nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout))
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        y = self.project(self.dw(self.expand(x)))
        return x + y if self.residual else y


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 20, 3, 2, 1, bias=False), nn.BatchNorm2d(20), nn.ReLU6())
        self.blocks = nn.Sequential(Block(20, 100, 20, 3, 1, nn.ReLU6),          # residual
                                    Block(20, 116, 36, 5, 2, nn.ReLU),           # 5x5, stride 2 into 14x14
                                    Block(36, 140, 36, 3, 1, nn.ReLU6, bn=False),
                                    Block(36, 212, 52, 3, 2, nn.ReLU6))          # stride 2 into 7x7: apart
        self.head = nn.Conv2d(52, 10, 1)

    def forward(self, x):
        return self.head(self.blocks(self.stem(x)))


@pytest.fixture(scope="module")
def pruned_net(tmp_path_factory):
    torch.manual_seed(0)
    net = Net().eval()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
    folder = tmp_path_factory.mktemp("fused")
    dense = export_onnx(net, folder / "net.onnx", (1, 3, 56, 56))
    prune(dense, folder / "pruned.onnx", preset="cpu-sparse", target="llvm")
    return folder / "pruned.onnx"


def test_pairs_are_fused_and_the_model_equals_onnxruntime(pruned_net, tmp_path):
    built = compile(pruned_net, "llvm", tmp_path / "m.tar", tuning_records=False)
    dws = [r for r in built.report["layers"] if r["op"] == "dw"]
    fused = [r for r in dws if "fused with" in r["format"]]
    assert len(dws) == 4 and len(fused) == 3, [r["format"] for r in dws]
    assert "fused with" not in dws[-1]["format"]                  # 14x14 -> 7x7 at stride 2
    x = np.random.default_rng(1).standard_normal((1, 3, 56, 56)).astype("float32")
    ref = run_ort(pruned_net, x)
    y = next(iter(LoadedModel(built.package)({"input": x}).values()))
    assert np.abs(y - ref).max() / np.abs(ref).max() < 1e-4


def test_sparse_off_fuses_nothing(pruned_net, tmp_path):
    built = compile(pruned_net, "llvm", tmp_path / "d.tar", sparse="off", tuning_records=False)
    assert not any("fused with" in r["format"] for r in built.report["layers"])
