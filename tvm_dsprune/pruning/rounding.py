"""Counts from ratios, rounded the same way everywhere (half up, never banker's rounding)."""
import math


def count(ratio: float, total: int) -> int:
    """round(ratio * total), halves rounded up, clipped to [0, total]."""
    return min(total, max(0, math.floor(ratio * total + 0.5)))
