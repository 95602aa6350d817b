"""NVIDIA Jetson Orin (Ampere, sm_87): the CUDA family's schedules with an edge GPU's tiles.

An example of adding a GPU in one file: a target, a geometry and knobs; the schedule rules are
the CUDA family's. Orin has 16 SMs and 48 KB of shared memory per block by default, so thread
blocks are smaller and staging is capped lower than on data-centre GPUs.
"""
from .. import TargetSpec, register
from . import COST, GEOMETRY
from ..gpu import GPUKnobs, family_rules

KNOBS = GPUKnobs(pixel_threads=(32, 64, 128), default_pixel_threads=32,
                 channel_threads=(1, 2, 4), default_channel_threads=4,
                 block_threads=(1, 2), default_block_threads=1,
                 pixel_vector=1, shared_staging=True, shared_bytes=16384, max_threads=512)


def rules() -> list:
    return family_rules("jetson-orin", KNOBS)


register(TargetSpec(
    name="jetson-orin",
    target={"kind": "cuda", "arch": "sm_87", "max_shared_memory_per_block": 49152},
    family="cuda",
    geometry=GEOMETRY,            # DEPrune's 32-channel sub-GEMMs, K tile 32: same mask step
    cost=COST,
    rules=rules,
    description="NVIDIA Jetson Orin (Ampere, sm_87)",
    aliases=("orin", "sm_87"),
    host={"kind": "llvm", "mtriple": "aarch64-linux-gnu"},
))
