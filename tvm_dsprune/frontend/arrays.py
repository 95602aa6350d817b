"""Named arrays in .npz files: masks (True = kept), model inputs, model outputs.

Written with numpy's savez (no pickles) and read with allow_pickle=False: an archive holding
objects is refused, never unpickled. `what` names the file in messages ("mask file", "inputs").
"""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from ..errors import InputError


def save(path: str | Path, arrays: dict[str, np.ndarray], compressed: bool = False) -> None:
    with open(path, "wb") as f:
        (np.savez_compressed if compressed else np.savez)(f, **arrays)


def save_masks(path: str | Path, masks: dict[str, np.ndarray]) -> None:
    save(path, {k: np.asarray(v, bool) for k, v in masks.items()}, compressed=True)


def load(path: str | Path, what: str = "array file") -> dict[str, np.ndarray]:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{what} {path}: no such file")
    if not zipfile.is_zipfile(path):
        raise InputError(f"{what} {path} is not a .npz archive")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        raise InputError(f"{what} {path} is not a readable .npz archive ({err})") from None
    except ValueError as err:   # object arrays: refused, never unpickled
        raise InputError(f"{what} {path} holds something other than plain arrays ({err})") from None
