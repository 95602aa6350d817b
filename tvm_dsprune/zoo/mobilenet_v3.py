"""MobileNet-V3-Small (Howard et al. 2019), layer for layer as torchvision builds it."""
from __future__ import annotations

import torch
from torch import nn

from .blocks import ConvBNAct, SqueezeExcite, make_divisible

# input c, kernel, expanded c, output c, squeeze-excite, activation, stride
SMALL = [(16, 3, 16, 16, True, "RE", 2), (16, 3, 72, 24, False, "RE", 2),
         (24, 3, 88, 24, False, "RE", 1), (24, 5, 96, 40, True, "HS", 2),
         (40, 5, 240, 40, True, "HS", 1), (40, 5, 240, 40, True, "HS", 1),
         (40, 5, 120, 48, True, "HS", 1), (48, 5, 144, 48, True, "HS", 1),
         (48, 5, 288, 96, True, "HS", 2), (96, 5, 576, 96, True, "HS", 1),
         (96, 5, 576, 96, True, "HS", 1)]
ACT = {"RE": nn.ReLU, "HS": nn.Hardswish}


class Bneck(nn.Module):
    def __init__(self, cin, kernel, hidden, cout, use_se, act, stride):
        super().__init__()
        act_cls = ACT[act]
        layers: list[nn.Module] = []
        if hidden != cin:
            layers.append(ConvBNAct(cin, hidden, 1, act=act_cls))
        layers.append(ConvBNAct(hidden, hidden, kernel, stride, groups=hidden, act=act_cls))
        if use_se:
            layers.append(SqueezeExcite(hidden, make_divisible(hidden // 4)))
        layers.append(ConvBNAct(hidden, cout, 1, act=None))
        self.block = nn.Sequential(*layers)
        self.use_residual = stride == 1 and cin == cout

    def forward(self, x):
        y = self.block(x)
        return x + y if self.use_residual else y


class MobileNetV3Small(nn.Module):
    def __init__(self, num_classes: int = 1000):
        super().__init__()
        layers: list[nn.Module] = [ConvBNAct(3, 16, 3, 2, act=nn.Hardswish)]
        layers += [Bneck(*cfg) for cfg in SMALL]
        layers.append(ConvBNAct(96, 576, 1, act=nn.Hardswish))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Linear(576, 1024), nn.Hardswish(), nn.Dropout(0.2),
                                        nn.Linear(1024, num_classes))

    def forward(self, x):
        x = self.features(x)
        x = torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)
        return self.classifier(x)
