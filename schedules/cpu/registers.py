"""The vector registers of an llvm target: lanes per float32 vector, and how many vectors a
register tile of accumulators may hold.

A register tile that does not fit spills to the stack on every multiply-add: on an AVX2 CPU
(16 x 8-lane ymm registers) a tile sized for AVX-512 (32 x 16-lane zmm) ran a 3x3 conv 2-3x
slower than a tile of 12 ymm accumulators (measured on the detector's 96->24 3x3 conv, 160x160).
"""
from __future__ import annotations


def _has(features: list[str], target) -> bool:
    from tvm.target import codegen

    try:
        return bool(codegen.llvm_cpu_has_features(features, target))
    except Exception:  # noqa: BLE001 - a target LLVM cannot describe: assume the narrow case
        return False


def vector_lanes(target) -> int:
    """float32 lanes of one vector register: 16 (AVX-512), 8 (AVX / AVX2), 4 (NEON, SSE)."""
    if _has(["avx512f"], target):
        return 16
    if _has(["avx"], target):
        return 8
    return 4


def accumulator_budget(target) -> int:
    """Vector registers a tile of accumulators may take, leaving room for the operands:
    3/4 of the register file (32 on AVX-512 and AArch64, 16 on AVX2)."""
    x86 = _has(["sse2"], target)
    registers = 32 if (not x86 or _has(["avx512f"], target)) else 16
    return registers * 3 // 4


def cores(target) -> int:
    """Threads the kernels' parallel loops run on: the target's num-cores (set from the host
    when the target is resolved), 1 when it does not say."""
    try:
        return max(1, int(target.attrs.get("num-cores", 1)))
    except (AttributeError, TypeError, ValueError):
        return 1
