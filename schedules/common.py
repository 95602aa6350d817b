"""Helpers the schedule rules share: find blocks, fold epilogues, pick tile sizes.

Nothing here imports TVM at module level.
"""
from __future__ import annotations

import math

from ..interrupts import reraise_if_interrupt


def block_named(sch, name: str):
    """The block called `name` in the schedule's function, or None."""
    try:
        return sch.get_sblock(name)
    except Exception as err:  # noqa: BLE001 - get_sblock raises when absent
        reraise_if_interrupt(err)
        return None


def child_blocks(sch) -> list:
    return list(sch.get_child_blocks(sch.get_sblock("root")))


def fold_epilogue(sch, producer):
    """Collapse the elementwise blocks after `producer` into the last one; return it (or None).

    FuseOps puts the epilogue (bias, folded BN, activation, residual add) after the operator as
    a chain of blocks, and some activations make it a DAG: SiLU reads its input twice
    (x * sigmoid(x)). Every block between the producer and the function's last block is inlined
    forward (compute_inline handles any number of readers), leaving one tail block to place.
    """
    blocks = child_blocks(sch)
    names = [sch.get(b).name_hint for b in blocks]
    start = names.index(sch.get(producer).name_hint) + 1
    after = blocks[start:]
    if not after:
        return None
    for blk in after[:-1]:
        try:
            sch.compute_inline(blk)
        except Exception as err:  # noqa: BLE001 - a block that cannot inline stays
            reraise_if_interrupt(err)
    return child_blocks(sch)[-1] if child_blocks(sch)[-1] is not None else None


def inline_consumers(sch, block) -> None:
    """Fold the whole epilogue into `block`'s stores (an exact-shape output block): collapse it
    to one tail block, then reverse-inline that tail. A tail that cannot inline (a broadcast to
    a larger shape) stays; the rules place or bind it. Before such a tail, the epilogue of
    `block`'s own shape (a squeeze-excite gate's bias and sigmoid) goes into `block`'s stores,
    not into the tail, where it would run once per element of the larger shape."""
    blocks = child_blocks(sch)
    after = blocks[[sch.get(b).same_as(sch.get(block)) for b in blocks].index(True) + 1:]
    size = written_size(sch, block)
    if len(after) > 1 and written_size(sch, after[-1]) > size:
        for blk in after[:-1]:
            if written_size(sch, blk) != size:
                break
            try:
                sch.reverse_compute_inline(blk)
            except Exception as err:  # noqa: BLE001 - a block that cannot inline backwards folds forward below
                reraise_if_interrupt(err)
                break
    tail = fold_epilogue(sch, block)
    if tail is None or sch.get(tail).name_hint == sch.get(block).name_hint:
        return
    try:
        sch.reverse_compute_inline(tail)
    except Exception as err:  # noqa: BLE001 - a tail that cannot inline stays
        reraise_if_interrupt(err)
        return


def largest_divisor(n: int, limit: int, multiple_of: int = 1) -> int:
    """The largest divisor of n not above `limit` that is a multiple of `multiple_of` (or 1)."""
    for d in range(min(n, limit), 0, -1):
        if n % d == 0 and d % multiple_of == 0:
            return d
    return 1


def loop_extent(sch, loop) -> int:
    return int(sch.get(loop).extent)


def written_shape(sch, block) -> list[int]:
    """Shape of the first buffer `block` writes (TVM 0.27: a region's buffer is `.source`)."""
    region = sch.get(block).writes[0]
    buf = region.source if hasattr(region, "source") else region.buffer
    return [int(d) for d in buf.shape]


def written_size(sch, block) -> int:
    """Elements of the first buffer `block` writes."""
    return math.prod(written_shape(sch, block))


BROADCAST_RATIO = 8      # a producer this many times smaller than a reader is a broadcast source


def broadcast_source(sch, block) -> bool:
    """Whether `block` writes a small tensor that a much larger one reads (a squeeze-excite gate
    read by every pixel): inlined, its whole expression would run once per element of the
    larger one."""
    size = written_size(sch, block)
    return any(written_size(sch, c) >= size * BROADCAST_RATIO for c in sch.get_consumers(block))


def read_shape(sch, block, index: int) -> list[int]:
    """Shape of the buffer `block` reads in its `index`-th read region."""
    region = sch.get(block).reads[index]
    buf = region.source if hasattr(region, "source") else region.buffer
    return [int(d) for d in buf.shape]


def choose(sch, tunable: bool, options: list[int], default: int):
    """A design-space decision over `options` (MetaSchedule samples it), else `default`."""
    options = sorted(set(options))
    if tunable and len(options) > 1:
        return sch.sample_categorical(options, [1.0 / len(options)] * len(options))
    return default


def decided(sch, decision) -> int:
    """The value of a `choose` decision: the default itself, or the sampled one."""
    return decision if isinstance(decision, int) else int(sch.get(decision))
