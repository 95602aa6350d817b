"""Schedule rules the GPU families share (CUDA and OpenCL/Mali), parameterised by each family's
tile choices (`GPUKnobs`). Every knob is a MetaSchedule design-space decision when `tunable` is
set (sample_categorical over aligned values) and the family's default otherwise.

One rule per module: dr_depthwise and group_dense (the sparse kernels), dense_depthwise (DW
convs that stay dense). leftovers gives every block no rule placed a kernel of its own.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GPUKnobs:
    """A family's candidate values (aligned) and defaults for each schedule knob."""
    pixel_threads: tuple[int, ...] = (32, 64, 128)
    default_pixel_threads: int = 64
    channel_threads: tuple[int, ...] = (1, 2, 4, 8)
    default_channel_threads: int = 4
    block_threads: tuple[int, ...] = (1, 2, 4)
    default_block_threads: int = 2
    pixel_vector: int = 1                   # pixels per thread, vectorised (Mali: 4 = float4)
    shared_staging: bool = True             # stage input planes in shared memory when they fit
    shared_bytes: int = 32768
    max_threads: int = 1024


def knob(sch, tunable: bool, candidates: tuple[int, ...], default: int, limit: int | None = None):
    """A design-space decision over `candidates` (tunable), else `default` (a plain int)."""
    cands = [c for c in candidates if limit is None or (c <= limit and limit % c == 0)] or [default]
    if tunable and len(cands) > 1:
        return sch.sample_categorical(cands, [1.0 / len(cands)] * len(cands))
    return default if default in cands else cands[0]


def family_rules(prefix: str, knobs: GPUKnobs) -> list:
    """The rule list of a GPU family: the rules of this folder with the family's knobs (imports
    TVM: called only when compiling)."""
    from .dense_depthwise import DenseDepthwise
    from .dr_depthwise import DRDepthwise
    from .group_dense import GroupDense

    return [DRDepthwise(f"{prefix}.dr_depthwise", knobs=knobs), GroupDense(f"{prefix}.group_dense", knobs=knobs),
            DenseDepthwise(f"{prefix}.dense_depthwise", knobs=knobs)]
