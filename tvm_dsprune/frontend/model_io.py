"""Model inputs and outputs: names, shapes and dtypes, from ONNX or given by the user.

Shapes are written like `input:1x3x224x224` or tvmc's `input:[1,3,224,224]`. A symbolic batch
dimension defaults to `batch`; any other symbolic dimension must be given.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import InputError

ONNX_DTYPES = {1: "float32", 10: "float16", 11: "float64", 6: "int32", 7: "int64", 9: "bool", 3: "int8", 2: "uint8"}


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]
    dtype: str

    def as_dict(self) -> dict:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}

    @staticmethod
    def from_dict(d: dict) -> "TensorInfo":
        return TensorInfo(str(d["name"]), tuple(int(x) for x in d["shape"]), str(d["dtype"]))


def parse_shapes(texts) -> dict[str, tuple[int, ...]]:
    """['input:1x3x224x224', 'x:[1,3,32,32]'] -> {name: shape}."""
    out = {}
    for text in texts or []:
        m = re.fullmatch(r"\s*([^:]+?)\s*:\s*\[?\s*([0-9x, ]+?)\s*\]?\s*", text)
        if not m:
            raise InputError(f"input shape {text!r}: write NAME:1x3x224x224")
        dims = [d for d in re.split(r"[x, ]+", m.group(2)) if d]
        if not dims or not all(d.isdigit() and int(d) > 0 for d in dims):
            raise InputError(f"input shape {text!r}: dimensions must be positive integers")
        out[m.group(1)] = tuple(int(d) for d in dims)
    return out


def onnx_inputs(proto, shapes: dict | None = None, batch: int = 1) -> list[TensorInfo]:
    shapes = dict(shapes or {})
    init = {i.name for i in proto.graph.initializer}
    infos = []
    for inp in proto.graph.input:
        if inp.name in init:
            continue
        t = inp.type.tensor_type
        dtype = ONNX_DTYPES.get(t.elem_type)
        if dtype is None:
            raise InputError(f"input {inp.name!r} has ONNX element type {t.elem_type}, which is not supported")
        if inp.name in shapes:
            shape = shapes.pop(inp.name)
            if len(shape) != len(t.shape.dim):
                raise InputError(f"input shape for {inp.name!r} has {len(shape)} dimensions, the model "
                                 f"has {len(t.shape.dim)}")
        else:
            dims = []
            for i, d in enumerate(t.shape.dim):
                if d.HasField("dim_value") and d.dim_value > 0:
                    dims.append(int(d.dim_value))
                elif i == 0:
                    dims.append(batch)
                else:
                    raise InputError(f"input {inp.name!r} dimension {i} is symbolic ({d.dim_param or '?'}); "
                                     f"give --input-shape {inp.name}:...")
            shape = tuple(dims)
        infos.append(TensorInfo(inp.name, shape, dtype))
    if shapes:
        raise InputError(f"--input-shape names no model input: {sorted(shapes)}; inputs are "
                         f"{[i.name for i in infos]}")
    return infos


def onnx_output_names(proto) -> list[str]:
    return [o.name for o in proto.graph.output]


__all__ = ["TensorInfo", "parse_shapes", "onnx_inputs", "onnx_output_names"]
