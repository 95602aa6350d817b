"""A DB text detector as PaddleOCR builds its mobile one (det_mv3_db, PP-OCR's student):
MobileNet-V3-Large at 0.5x channels with outputs at strides 4, 8, 16 and 32, an FPN of 96
channels (lateral 1x1 convs, nearest x2 upsampling adds, 3x3 convs, everything upsampled to
stride 4 and concatenated) and the DB head (3x3 conv, two ConvTranspose 2x2 stride 2, Sigmoid).
A detector at real resolutions (640x640): large feature maps, kxk convs, ConvTranspose, Resize.
"""
from __future__ import annotations

import torch
from torch import nn

from .blocks import ConvBNAct, make_divisible
from .mobilenet_v3 import Bneck

# MobileNet-V3-Large: kernel, expanded c, output c, squeeze-excite, activation, stride
LARGE = [(3, 16, 16, False, "RE", 1), (3, 64, 24, False, "RE", 2), (3, 72, 24, False, "RE", 1),
         (5, 72, 40, True, "RE", 2), (5, 120, 40, True, "RE", 1), (5, 120, 40, True, "RE", 1),
         (3, 240, 80, False, "HS", 2), (3, 200, 80, False, "HS", 1), (3, 184, 80, False, "HS", 1),
         (3, 184, 80, False, "HS", 1), (3, 480, 112, True, "HS", 1), (3, 672, 112, True, "HS", 1),
         (5, 672, 160, True, "HS", 2), (5, 960, 160, True, "HS", 1), (5, 960, 160, True, "HS", 1)]


class Backbone(nn.Module):
    """The four stages of MobileNet-V3-Large a detector reads (PaddleOCR's det backbone)."""

    def __init__(self, scale: float = 0.5):
        super().__init__()
        cin = make_divisible(16 * scale)
        self.stem = ConvBNAct(3, cin, 3, 2, act=nn.Hardswish)
        stages, blocks, self.channels = [], [], []
        for i, (k, exp, c, se, act, s) in enumerate(LARGE):
            if s == 2 and i > 2:
                stages.append(nn.Sequential(*blocks))
                self.channels.append(cin)
                blocks = []
            cout = make_divisible(scale * c)
            blocks.append(Bneck(cin, k, make_divisible(scale * exp), cout, se, act, s))
            cin = cout
        last = make_divisible(scale * 960)
        blocks.append(ConvBNAct(cin, last, 1, act=nn.Hardswish))
        stages.append(nn.Sequential(*blocks))
        self.channels.append(last)
        self.stages = nn.ModuleList(stages)

    def forward(self, x):
        x = self.stem(x)
        outs = []
        for stage in self.stages:
            x = stage(x)
            outs.append(x)
        return outs


def _up(x, scale: int):
    return nn.functional.interpolate(x, scale_factor=scale, mode="nearest")


class DBFPN(nn.Module):
    def __init__(self, channels: list[int], out: int = 96):
        super().__init__()
        self.lateral = nn.ModuleList(nn.Conv2d(c, out, 1, bias=False) for c in channels)
        self.smooth = nn.ModuleList(nn.Conv2d(out, out // 4, 3, padding=1, bias=False) for _ in channels)

    def forward(self, feats):
        c2, c3, c4, c5 = (conv(f) for conv, f in zip(self.lateral, feats))
        p4 = c4 + _up(c5, 2)
        p3 = c3 + _up(p4, 2)
        p2 = c2 + _up(p3, 2)
        s2, s3, s4, s5 = (conv(p) for conv, p in zip(self.smooth, (p2, p3, p4, c5)))
        return torch.cat([_up(s5, 8), _up(s4, 4), _up(s3, 2), s2], dim=1)


class DBHead(nn.Module):
    def __init__(self, cin: int = 96):
        super().__init__()
        q = cin // 4
        self.body = nn.Sequential(
            ConvBNAct(cin, q, 3, act=nn.ReLU),
            nn.ConvTranspose2d(q, q, 2, 2), nn.BatchNorm2d(q), nn.ReLU(),
            nn.ConvTranspose2d(q, 1, 2, 2), nn.Sigmoid())

    def forward(self, x):
        return self.body(x)


class DBDetector(nn.Module):
    def __init__(self, scale: float = 0.5, fpn: int = 96):
        super().__init__()
        self.backbone = Backbone(scale)
        self.neck = DBFPN(self.backbone.channels, fpn)
        self.head = DBHead(fpn)

    def forward(self, x):
        return self.head(self.neck(self.backbone(x)))
