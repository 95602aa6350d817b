"""What the sparsify passes decided for every conv / dense layer: records that travel with the
module.

The frontend puts the layer names on the imported module (`dsprune.layer_names`: weight content
key -> [name, position]); each pass appends one LayerRecord per layer it visits to the module's
`dsprune.layers` attribute (JSON text). Whoever holds the module holds the records: the compile
report, the tuning tasks and the PoCL harness all read them from there.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import numpy as np

NAMES_ATTR = "dsprune.layer_names"
RECORDS_ATTR = "dsprune.layers"
KERNELS_ATTR = "dsprune.kernels"
SPARSE_MODES = ("auto", "on", "off")


def check_sparse_mode(mode: str) -> str:
    """The one check of --sparse: auto (cost model), on (every pruned layer), off (all dense)."""
    from ..errors import InputError

    if mode not in SPARSE_MODES:
        raise InputError(f"--sparse {mode!r}: choose auto, on or off")
    return mode


@dataclass
class LayerRecord:
    name: str
    op: str                 # dw, pw, conv, fc
    shape: list[int]        # weight shape as the model stores it
    density: float          # kept / total weights
    decision: str           # "sparse", "compact" (dense kernel on the kept filters and input channels) or "dense"
    format: str = ""        # e.g. "DR g32 kmax64", "groups 1x4"
    kernel: str = ""        # the PrimFunc the layer calls
    reason: str = ""
    position: int = -1      # position in the source model (-1: unknown)

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


def with_layer_names(mod, index: dict[str, tuple[str, int]]):
    """The module with the frontend's weight-key -> (layer name, position) index attached."""
    return mod.with_attr(NAMES_ATTR, json.dumps({k: list(v) for k, v in index.items()}))


def _attr(mod, key: str):
    attrs = mod.attrs
    return str(attrs[key]) if attrs is not None and key in attrs else None


class LayerNames:
    """Finds a layer's name from its constant weight; unknown weights get numbered names."""

    def __init__(self, mod):
        text = _attr(mod, NAMES_ATTR)
        self.index = {k: tuple(v) for k, v in json.loads(text).items()} if text else {}
        self.counter = len(records(mod))
        self.added = False

    def add(self, weight: np.ndarray, name: str, position: int) -> None:
        """Name a weight a pass derived from a layer's (e.g. its kept filters)."""
        from ..frontend.onnx_model import weight_key

        self.index[weight_key(weight)] = (name, position)
        self.added = True

    def attach(self, mod):
        """The module with what `add` put in the index (unchanged if nothing was added)."""
        return with_layer_names(mod, self.index) if self.added else mod

    def lookup(self, weight: np.ndarray) -> tuple[str, int] | None:
        from ..frontend.onnx_model import weight_key

        for w in (weight, weight.T if weight.ndim == 2 else None):
            if w is not None and weight_key(w) in self.index:
                name, position = self.index[weight_key(w)]
                return name, int(position)
        return None

    def name(self, weight: np.ndarray | None, op: str) -> tuple[str, int]:
        found = self.lookup(weight) if weight is not None else None
        if found is not None:
            return found
        self.counter += 1
        return f"{op}_{self.counter}", -1


def records(mod) -> list[LayerRecord]:
    """The module's layer records, in model order where the positions are known."""
    text = _attr(mod, RECORDS_ATTR)
    recs = [LayerRecord(**d) for d in json.loads(text)] if text else []
    return sorted(recs, key=lambda r: (r.position < 0, r.position))


def with_records(mod, new: list[LayerRecord]):
    """The module with `new` records appended to those it carries."""
    if not new:
        return mod
    return mod.with_attr(RECORDS_ATTR, json.dumps([r.as_dict() for r in records(mod) + new]))


def kernel_calls(mod) -> list[dict]:
    """Every call_tir of `main`, in call order: the kernel, the layer it computes, and whether a
    tuning record scheduled it (`dsprune.tuned`, see pipeline.mark_tuned). The layer comes from
    the function's `dsprune.layer`; else from a constant argument that the passes named after a
    layer (its weight, the kept filters of a compact layer, a sparse kernel's format arrays:
    FuseTIR keeps no attributes); for the row scatter of a compact layer, from the call whose
    result it scatters; else from the name of a fused function after a pass's kernel. The
    profile reads it to put layer names on the kernels."""
    import tvm
    from tvm import relax, tirx

    names = LayerNames(mod)
    by_kernel = {r.kernel: r.name for r in records(mod) if r.kernel}
    call_tir = tvm.ir.Op.get("relax.call_tir")
    produced: dict = {}                     # relax var -> the layer whose kernel produced it
    out = []
    for block in mod["main"].body.blocks:
        for binding in block.bindings:
            v = binding.value
            if not (isinstance(v, relax.Call) and v.op.same_as(call_tir)):
                continue
            gv = v.args[0]
            func = mod[gv]
            args = list(v.args[1].fields)
            layer = ""
            if isinstance(func, tirx.PrimFunc) and func.attrs is not None and "dsprune.layer" in func.attrs:
                layer = str(func.attrs["dsprune.layer"])
            if not layer:
                for arg in args:
                    if isinstance(arg, tvm.ir.Constant) and arg.value.numpy().size > 1:
                        found = names.lookup(arg.value.numpy())
                        if found:
                            layer = found[0]
                            break
            if not layer and "dsprune_row_scatter" in gv.name_hint and args:
                layer = produced.get(args[0], "")
            if not layer:
                layer = _fused_layer(gv.name_hint, by_kernel)
            produced[binding.var] = layer
            tuned = isinstance(func, tirx.PrimFunc) and func.attrs is not None and "dsprune.tuned" in func.attrs
            out.append({"kernel": gv.name_hint, "layer": layer, "tuned": bool(tuned)})
    return out


def _fused_layer(name: str, by_kernel: dict[str, str]) -> str:
    """The layer of a fused function named after a pass's kernel (`fused_<kernel>_<epilogue>`)."""
    for kernel, layer in by_kernel.items():
        if runs_kernel(name, kernel):
            return layer
    return ""


def runs_kernel(function: str, kernel: str) -> bool:
    """Whether the function named `function` is the pass's kernel `kernel` or the function
    FuseOps made of it and its epilogue (`fused_<kernel>` or `fused_<kernel>_<epilogue>`)."""
    return bool(kernel) and (function in (kernel, "fused_" + kernel) or function.startswith("fused_" + kernel + "_"))


def with_kernel_calls(mod):
    return mod.with_attr(KERNELS_ATTR, json.dumps(kernel_calls(mod)))


def kernels(mod) -> list[dict]:
    text = _attr(mod, KERNELS_ATTR)
    return json.loads(text) if text else []
