"""masks.npz: one boolean array per pruned layer's weight initializer, True = kept.

Written with numpy's savez (no pickles) and read with allow_pickle=False.
"""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from ..errors import InputError


def save(path: str | Path, masks: dict[str, np.ndarray]) -> None:
    with open(path, "wb") as f:
        np.savez_compressed(f, **{k: np.asarray(v, bool) for k, v in masks.items()})


def load(path: str | Path) -> dict[str, np.ndarray]:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"mask file {path}: no such file")
    if not zipfile.is_zipfile(path):
        raise InputError(f"mask file {path} is not a .npz archive")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        raise InputError(f"mask file {path} is not a readable .npz archive ({err})") from None
    except ValueError as err:   # object arrays: refused, never unpickled
        raise InputError(f"mask file {path} holds something other than plain arrays ({err})") from None


def validate(masks: dict[str, np.ndarray], shapes: dict[str, tuple[int, ...]], source: str) -> dict[str, np.ndarray]:
    """Masks as bool arrays, checked against the model: every key a prunable weight, same shape."""
    unknown = sorted(set(masks) - set(shapes))
    if unknown:
        raise InputError(f"mask file {source}: {len(unknown)} array(s) name no prunable weight of the "
                         f"model, e.g. {unknown[0]!r}")
    out = {}
    for name, m in masks.items():
        if tuple(m.shape) != tuple(shapes[name]):
            raise InputError(f"mask file {source}: mask {name!r} has shape {tuple(m.shape)}, "
                             f"the weight has shape {tuple(shapes[name])}")
        if m.dtype != bool:
            if not np.isin(m, (0, 1)).all():
                raise InputError(f"mask file {source}: mask {name!r} is {m.dtype} with values other than 0/1")
            m = m.astype(bool)
        out[name] = m
    return out
