"""The mask step on a PyTorch module.

The same plan and algorithms as the ONNX path run on the module's own weights, and the masks
are installed with `torch.nn.utils.prune.custom_from_mask`, so fine-tuning keeps every pruned
weight at zero (the forward pass uses weight_orig * mask). `finetune` is a short training loop
for that; `export_pruned_onnx` makes the masks permanent on a copy and exports it.

Layer order and "feeds a depthwise conv" come from a torch.fx trace of the module; a module
fx cannot trace falls back to registration order, with PW layers counted as feeding a DW conv
when the next conv is depthwise over their output channels.
"""
from __future__ import annotations

import copy
import logging
import operator
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import torch
from torch import nn
from torch.nn.utils import prune as torch_prune

from ..errors import InputError
from .checks import check_alpha_names, empty_layers, unused_options
from .layers import Layer
from .masking import compute_masks
from .onnx_prune import PruneResult
from .plan import decide, prepare
from .report import summarize

log = logging.getLogger(__name__)

PASS_MODULES = (nn.BatchNorm2d, nn.ReLU, nn.ReLU6, nn.Hardswish, nn.Hardsigmoid, nn.SiLU, nn.Sigmoid,
                nn.Identity, nn.Dropout, nn.LeakyReLU, nn.GELU, nn.Tanh)
PASS_FUNCTIONS = {operator.add, operator.mul, operator.iadd, operator.imul, torch.add, torch.mul,
                  nn.functional.relu, nn.functional.relu6, nn.functional.silu, nn.functional.hardswish,
                  nn.functional.hardsigmoid, torch.sigmoid, nn.functional.pad}
PASS_METHODS = {"add", "mul", "relu", "sigmoid", "add_", "mul_", "clamp"}


def _kind(module: nn.Module) -> str | None:
    if isinstance(module, nn.Linear):
        return "fc"
    if isinstance(module, nn.Conv2d):
        kh, kw = module.kernel_size
        if module.groups == 1:
            return "pw" if (kh, kw) == (1, 1) else "conv"
        if module.in_channels == module.groups == module.out_channels:
            return "dw"
        return "grouped"
    return None


def find_layers(model: nn.Module) -> tuple[list[Layer], dict[str, np.ndarray], dict[str, nn.Module]]:
    """Prunable layers in execution order, their weights (numpy) and modules by name."""
    modules = {n: m for n, m in model.named_modules() if _kind(m) is not None}
    order, feeds = _trace(model, modules)
    layers, weights = [], {}
    for pos, name in enumerate(order):
        m = modules[name]
        w = _weight(m).detach().cpu().numpy()
        layer = Layer(name, _kind(m), f"{name}.weight", tuple(w.shape), position=pos,
                      feeds_dw=feeds.get(name, False))
        layers.append(layer)
        weights[layer.weight_name] = w
    return layers, weights, modules


def _weight(m: nn.Module) -> torch.Tensor:
    # An already pruned module keeps the effective weight in `weight` (orig * mask).
    return m.weight


def _trace(model: nn.Module, modules: dict[str, nn.Module]):
    try:
        gm = torch.fx.symbolic_trace(model)
    except Exception as err:  # noqa: BLE001 - any tracing failure means: use the fallback
        log.info("torch.fx cannot trace %s (%s); using registration order", type(model).__name__, err)
        return _fallback_order(modules)
    order = [n.target for n in gm.graph.nodes if n.op == "call_module" and n.target in modules]
    seen = set()
    order = [n for n in order if not (n in seen or seen.add(n))]
    named = dict(gm.named_modules())
    dw = {n for n in order if _kind(modules[n]) == "dw"}
    feeds = {}
    for node in gm.graph.nodes:
        if node.op == "call_module" and node.target in modules and _kind(modules[node.target]) == "pw":
            feeds[node.target] = _reaches(node, dw, named)
    return order, feeds


def _reaches(start, dw: set, named) -> bool:
    stack, seen = list(start.users), set()
    while stack:
        n = stack.pop()
        if n in seen:
            continue
        seen.add(n)
        if n.op == "call_module":
            if n.target in dw:
                return True
            if not isinstance(named.get(n.target), PASS_MODULES):
                continue
        elif n.op == "call_function" and n.target not in PASS_FUNCTIONS:
            continue
        elif n.op == "call_method" and n.target not in PASS_METHODS:
            continue
        elif n.op not in ("call_module", "call_function", "call_method"):
            continue
        stack.extend(n.users)
    return False


def _fallback_order(modules: dict[str, nn.Module]):
    order = list(modules)
    feeds = {}
    for i, name in enumerate(order):
        m = modules[name]
        if _kind(m) != "pw":
            continue
        nxt = next((modules[n] for n in order[i + 1:] if _kind(modules[n]) in ("dw", "pw", "conv", "grouped")), None)
        feeds[name] = nxt is not None and _kind(nxt) == "dw" and nxt.in_channels == m.out_channels
    return order, feeds


def prune_module(model: nn.Module, *, dw=None, pw=None, fc=None, conv=None, group=None, balanced=None,
                 target="cuda", plan=None, preset=None, prune_first=None, prune_last=None, filter_feeding_dw=None,
                 hsr_alpha=None) -> PruneResult:
    """Prune `model` in place with the same methods and defaults as `tvm_dsprune.prune`.

    The masks are installed with `torch.nn.utils.prune.custom_from_mask`; the result's masks
    are keyed by parameter name (`features.1.conv.0.0.weight`), which is also the initializer
    name in ONNX files exported by tvm-dsprune, so they can be applied with `prune --masks-in`.
    """
    spec, opts, alpha = prepare(target, plan, hsr_alpha, preset, dw=dw, pw=pw, fc=fc, conv=conv, group=group,
                                balanced=balanced, prune_first=prune_first, prune_last=prune_last,
                                filter_feeding_dw=filter_feeding_dw)
    layers, weights, modules = find_layers(model)
    check_alpha_names(alpha, layers)
    decisions = decide(layers, opts)
    masks, rows, pattern = compute_masks(decisions, weights, spec.geometry, alpha)
    for d in decisions:
        if d.spec is not None:
            install_mask(modules[d.layer.name], masks[d.layer.weight_name])
    report = {"tool": "tvm-dsprune", "model": type(model).__name__, "target": spec.name,
              "geometry": spec.geometry.as_dict(), "summary": summarize(rows, pattern), "layers": rows,
              "notes": unused_options(layers, decisions, {"dw": opts.dw, "pw": opts.pw, "fc": opts.fc,
                                                          "conv": opts.conv}),
              "warnings": empty_layers(rows)}
    return PruneResult(report, masks)


def install_mask(module: nn.Module, mask: np.ndarray) -> None:
    weight = module.weight
    if tuple(mask.shape) != tuple(weight.shape):
        raise InputError(f"mask of shape {tuple(mask.shape)} does not fit weight {tuple(weight.shape)}")
    torch_prune.custom_from_mask(module, "weight", torch.as_tensor(np.asarray(mask, bool), device=weight.device))
    _refresh(module)


def _refresh(module: nn.Module) -> None:
    """Recompute weight = weight_orig * mask without autograd history. The pre-forward hook does
    the same on every call; without history the module can be deep-copied and saved."""
    with torch.no_grad():
        module.weight = module.weight_orig * module.weight_mask


def _refresh_all(model: nn.Module) -> None:
    for m in model.modules():
        if hasattr(m, "weight_mask"):
            _refresh(m)


def apply_masks(model: nn.Module, masks: dict[str, np.ndarray]) -> None:
    """Install masks keyed by parameter name (e.g. from masks.npz) on a module."""
    modules = dict(model.named_modules())
    for key, mask in masks.items():
        name = key[:-len(".weight")] if key.endswith(".weight") else key
        if name not in modules or _kind(modules[name]) is None:
            raise InputError(f"mask {key!r} names no Conv2d/Linear weight of the module")
        install_mask(modules[name], mask)


def current_masks(model: nn.Module) -> dict[str, np.ndarray]:
    """The installed masks, keyed by parameter name."""
    return {f"{n}.weight": m.weight_mask.detach().cpu().numpy().astype(bool)
            for n, m in model.named_modules() if hasattr(m, "weight_mask")}


def finetune(model: nn.Module, batches: Iterable, *, epochs: int = 1, lr: float = 1e-3,
             momentum: float = 0.9, weight_decay: float = 0.0,
             loss_fn: Callable | None = None, log_every: int = 10) -> list[float]:
    """A short SGD loop over (inputs, targets) batches. The masks stay fixed: pruned weights
    remain exactly zero because the forward pass multiplies weight_orig by the mask."""
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=lr,
                          momentum=momentum, weight_decay=weight_decay)
    model.train()
    losses = []
    step = 0
    for epoch in range(epochs):
        for x, y in batches:
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
            losses.append(loss.item())
            step += 1
            if log_every and step % log_every == 0:
                log.info("finetune epoch %d step %d loss %.4f", epoch, step, losses[-1])
    model.eval()
    _refresh_all(model)
    return losses


def export_pruned_onnx(model: nn.Module, path: str | Path, input_shape=(1, 3, 224, 224)) -> Path:
    """Export with the masks made permanent (on a copy; `model` keeps its masks)."""
    from ..frontend.torch_export import export_onnx

    _refresh_all(model)
    clone = copy.deepcopy(model)
    for _, m in clone.named_modules():
        if hasattr(m, "weight_mask"):
            torch_prune.remove(m, "weight")
    return export_onnx(clone, path, input_shape)
