"""n:m fine-grained structured sparsity (NVIDIA 2:4): keep the n largest of every m weights.

Blocks are m consecutive weights along a row of W[F, K] (the reduction dimension, as sparse
tensor cores want). (our reading) A last partial block of k < m weights keeps min(n, k).
"""
from __future__ import annotations

import numpy as np


def nm_mask(matrix: np.ndarray, n: int, m: int) -> np.ndarray:
    if not (0 < n <= m):
        raise ValueError(f"n:m needs 0 < n <= m, got {n}:{m}")
    f, k = matrix.shape
    a = np.abs(np.asarray(matrix))
    mask = np.zeros((f, k), bool)
    full = (k // m) * m
    if full:
        blocks = a[:, :full].reshape(f, k // m, m)
        order = np.argsort(-blocks, axis=2, kind="stable")[:, :, :n]
        bm = np.zeros_like(blocks, dtype=bool)
        np.put_along_axis(bm, order, True, axis=2)
        mask[:, :full] = bm.reshape(f, full)
    if full < k:
        tail = a[:, full:]
        order = np.argsort(-tail, axis=1, kind="stable")[:, :min(n, k - full)]
        tm = np.zeros_like(tail, dtype=bool)
        np.put_along_axis(tm, order, True, axis=1)
        mask[:, full:] = tm
    return mask
