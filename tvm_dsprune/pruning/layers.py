"""What the mask step knows about a prunable layer, whatever framework it came from."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# dw: depthwise conv, channel multiplier 1;  pw: 1x1 conv, groups 1;  conv: any other groups-1
# conv;  fc: Gemm / MatMul / Linear;  grouped: other grouped convs (kept dense).
KINDS = ("dw", "pw", "conv", "fc", "grouped")


@dataclass
class Layer:
    name: str                    # node (ONNX) or module (torch) name
    kind: str
    weight_name: str             # the initializer / parameter holding the weight
    shape: tuple[int, ...]
    transposed: bool = False     # fc weight stored [K, F] (Gemm transB=0, MatMul)
    feeds_dw: bool = False       # its output reaches a depthwise conv (the DEPrune paper, Sec. 4.2)
    position: int = 0            # order among prunable layers (0 = first)
    unsupported: str = ""        # why it cannot be pruned (shared weight, non-constant, ...)

    def matrix(self, weight: np.ndarray) -> np.ndarray:
        """The weight as W[F, K]: one row per output, K = C_in * kh * kw."""
        if self.kind == "fc":
            return weight.T if self.transposed else weight
        return weight.reshape(weight.shape[0], -1)

    def from_matrix(self, matrix: np.ndarray) -> np.ndarray:
        if self.kind == "fc":
            return matrix.T if self.transposed else matrix
        return matrix.reshape(self.shape)
