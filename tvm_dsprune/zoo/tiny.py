"""A tiny depthwise-separable net for fast tests.

It still has every case the passes and kernels must handle: a partial last sub-GEMM
(C = 40, 72, 88), stride 2, 3x3 / 5x5 / 7x7 depthwise kernels, a squeeze-excite gate,
a residual add and a classifier.
"""
from __future__ import annotations

import torch
from torch import nn

from .blocks import ConvBNAct, SqueezeExcite


class TinyBlock(nn.Module):
    def __init__(self, cin, hidden, cout, kernel, stride, se=False):
        super().__init__()
        layers: list[nn.Module] = [ConvBNAct(cin, hidden, 1),
                                   ConvBNAct(hidden, hidden, kernel, stride, groups=hidden)]
        if se:
            layers.append(SqueezeExcite(hidden, hidden // 4))
        layers.append(ConvBNAct(hidden, cout, 1, act=None))
        self.block = nn.Sequential(*layers)
        self.use_residual = stride == 1 and cin == cout

    def forward(self, x):
        y = self.block(x)
        return x + y if self.use_residual else y


class TinyDWNet(nn.Module):
    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(
            ConvBNAct(3, 16, 3, 2),
            TinyBlock(16, 40, 24, 3, 1),
            TinyBlock(24, 72, 32, 5, 2, se=True),
            TinyBlock(32, 88, 32, 7, 1),
            ConvBNAct(32, 128, 1),
        )
        self.classifier = nn.Linear(128, num_classes)

    def forward(self, x):
        x = self.features(x)
        return self.classifier(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))
