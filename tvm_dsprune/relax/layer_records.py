"""What the sparsify passes decided for every conv / dense layer, for the compile report."""
from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field

import numpy as np


@dataclass
class LayerRecord:
    name: str
    op: str                 # dw, pw, conv, fc
    shape: list[int]        # weight shape as the model stores it
    density: float          # kept / total weights
    decision: str           # "sparse", "compact" (dense kernel on the kept filters) or "dense"
    format: str = ""        # e.g. "DR g32 kmax64", "groups 1x4"
    kernel: str = ""        # the PrimFunc the layer calls
    reason: str = ""

    def as_dict(self) -> dict:
        return asdict(self)

    def stays_dense(self, mode: str) -> bool:
        """True (and the reason recorded) when nothing is pruned or sparse kernels are off."""
        if self.density == 1.0:
            self.reason = "not pruned"
        elif mode == "off":
            self.reason = "--sparse off"
        else:
            return False
        return True


def weight_key(array: np.ndarray) -> str:
    """A content key that finds a layer's name from its constant weight."""
    a = np.ascontiguousarray(array)
    return hashlib.sha1(a.tobytes() + str(a.shape).encode()).hexdigest()


@dataclass
class LayerNames:
    """Weight content -> layer name (from the ONNX graph); unknown weights get numbered names."""
    by_key: dict[str, str] = field(default_factory=dict)
    order: dict[str, int] = field(default_factory=dict)     # layer name -> position in the model
    counter: int = 0

    def name(self, weight: np.ndarray, op: str) -> str:
        key = weight_key(weight)
        if key in self.by_key:
            return self.by_key[key]
        key_t = weight_key(weight.T) if weight.ndim == 2 else None
        if key_t and key_t in self.by_key:
            return self.by_key[key_t]
        self.counter += 1
        return f"{op}_{self.counter}"

    def sort(self, records: list) -> list:
        """Records in model order (the passes visit depthwise convs first)."""
        return sorted(records, key=lambda r: self.order.get(r.name, len(self.order)))
