"""NVIDIA GPUs (CUDA): DEPrune's geometry — 32-channel sub-GEMMs, compact K in 32-wide tiles.

Threads run along output pixels (coalesced) and across a sub-GEMM's channels; a thread block
that owns whole channel planes stages them in shared memory. Batch 32 multiplies the grid, so
batch 1 and batch 32 both fill the GPU. Knobs (design space): pixel threads, channel threads,
row-block threads.
"""
from .. import TargetSpec, register
from ..cost import SparseCost
from ..geometry import TileGeometry
from ..gpu import GPUKnobs, family_rules

GEOMETRY = TileGeometry(dr_group=32, k_tile=32, group=(1, 4), thread_rows=4, workgroup_rows=32,
                        vector_width=4, tile_overhead=1.0)
KNOBS = GPUKnobs(pixel_threads=(32, 64, 128, 256), default_pixel_threads=64,
                 channel_threads=(1, 2, 4, 8), default_channel_threads=4,
                 block_threads=(1, 2, 4), default_block_threads=2,
                 pixel_vector=1, shared_staging=True, shared_bytes=32768, max_threads=1024)
# (our reading, not yet measured: no GPU was lent) sparse wins below ~90% density
COST = SparseCost(dw_column=1.1, group_mac=1.5, group_fixed=2.0)


def rules() -> list:
    return family_rules("cuda", KNOBS)


register(TargetSpec(
    name="cuda",
    target={"kind": "cuda", "arch": "sm_80", "max_shared_memory_per_block": 49152},
    family="cuda",
    geometry=GEOMETRY,
    cost=COST,
    rules=rules,
    description="NVIDIA GPU, sm_80 code (A100 class); runs on sm_80 and newer",
    aliases=("nvidia", "sm_80"),
))
