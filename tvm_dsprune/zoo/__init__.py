"""The model zoo: torch definitions with seeded random weights, exported to ONNX.

No pretrained weights can be downloaded here, so every model gets deterministic random weights
and BatchNorm statistics calibrated on seeded random images. The statistics are therefore
non-trivial (they differ per channel and are folded into the convs on export) while keeping
activations in a realistic range through 50+ layers, which keeps numerical checks meaningful.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from ..errors import InputError
from .db_detector import DBDetector
from .efficientnet import EfficientNetB0
from .mobilenet_v2 import MobileNetV2
from .mobilenet_v3 import MobileNetV3Small
from .shufflenet_v2 import ShuffleNetV2
from .tiny import TinyDWNet


@dataclass(frozen=True)
class ZooEntry:
    name: str
    builder: Callable[[], nn.Module]
    resolution: int
    description: str


MODELS: dict[str, ZooEntry] = {e.name: e for e in [
    ZooEntry("mobilenet_v2", MobileNetV2, 224, "MobileNet-V2 1.0, 1000 classes"),
    ZooEntry("mobilenet_v3_small", MobileNetV3Small, 224, "MobileNet-V3-Small, 1000 classes"),
    ZooEntry("efficientnet_b0", EfficientNetB0, 224, "EfficientNet-B0, 1000 classes"),
    ZooEntry("shufflenet_v2", ShuffleNetV2, 224, "ShuffleNet-V2 1.0x, 1000 classes (channel shuffle)"),
    ZooEntry("db_mv3", DBDetector, 640, "DB text detector: MobileNet-V3-Large 0.5x + FPN + ConvTranspose head"),
    ZooEntry("tiny", TinyDWNet, 32, "tiny depthwise-separable net (C=40/72/88, 3x3/5x5/7x7), 10 classes"),
]}
ALIASES = {"mobilenetv2": "mobilenet_v2", "mobilenet-v2": "mobilenet_v2",
           "mobilenetv3": "mobilenet_v3_small", "mobilenet-v3-small": "mobilenet_v3_small",
           "efficientnet-b0": "efficientnet_b0", "efficientnetb0": "efficientnet_b0",
           "shufflenetv2": "shufflenet_v2", "shufflenet-v2": "shufflenet_v2", "shufflenet_v2_x1_0": "shufflenet_v2",
           "det_mv3_db": "db_mv3", "db-mv3": "db_mv3"}


def entry(name: str) -> ZooEntry:
    key = ALIASES.get(name.lower(), name.lower())
    if key not in MODELS:
        raise InputError(f"unknown zoo model {name!r}; choose from: {', '.join(MODELS)}")
    return MODELS[key]


def build(name: str, seed: int = 0) -> nn.Module:
    """The named model in eval mode with seeded weights and calibrated BatchNorm statistics."""
    e = entry(name)
    torch.manual_seed(seed)
    model = e.builder()
    gen = torch.Generator().manual_seed(seed)
    _init_weights(model, gen)
    _calibrate_batchnorm(model, e.resolution, gen)
    return model.eval()


def _init_weights(model: nn.Module, gen: torch.Generator) -> None:
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu", generator=gen)
                if m.bias is not None:
                    m.bias.uniform_(-0.1, 0.1, generator=gen)
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5, generator=gen)
                m.bias.uniform_(-0.2, 0.2, generator=gen)
            elif isinstance(m, nn.Linear):
                m.weight.normal_(0.0, m.in_features ** -0.5, generator=gen)
                m.bias.uniform_(-0.1, 0.1, generator=gen)


def _calibrate_batchnorm(model: nn.Module, resolution: int, gen: torch.Generator) -> None:
    """Set running mean/var to the statistics of seeded random images (cumulative average)."""
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None
    model.train()
    with torch.no_grad():
        for _ in range(2):
            model(torch.randn(4, 3, resolution, resolution, generator=gen))
    for bn in bns:
        bn.momentum = 0.1
    model.eval()


def example_input(name: str, batch: int = 1, seed: int = 0, resolution: int | None = None) -> torch.Tensor:
    res = resolution or entry(name).resolution
    return torch.randn(batch, 3, res, res, generator=torch.Generator().manual_seed(seed))


def export(name: str, path, seed: int = 0, resolution: int | None = None):
    """Build the named model and export it to ONNX (see tvm_dsprune.frontend.torch_export)."""
    from ..frontend.torch_export import export_onnx

    res = resolution or entry(name).resolution
    return export_onnx(build(name, seed), path, (1, 3, res, res))
