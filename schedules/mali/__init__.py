"""Arm Mali GPUs (OpenCL), Bifrost (e.g. G76): 128-bit vector units, so 1x4 float groups, float4
pixel vectors, 4-wide K tiles; small work-groups and no local memory (Mali's local memory is
ordinary system memory: staging through it costs, it does not save)."""
from .. import TargetSpec, register
from ..cost import SparseCost
from ..geometry import TileGeometry
from ..gpu import GPUKnobs, family_rules

GEOMETRY = TileGeometry(dr_group=16, k_tile=4, group=(1, 4), thread_rows=4, workgroup_rows=16,
                        vector_width=4, tile_overhead=1.0)
KNOBS = GPUKnobs(pixel_threads=(16, 32, 64), default_pixel_threads=32,
                 channel_threads=(1, 2, 4), default_channel_threads=2,
                 block_threads=(1, 2), default_block_threads=1,
                 pixel_vector=4, shared_staging=False, max_threads=256)
COST = SparseCost(dw_column=1.1, group_mac=1.3, group_fixed=2.0,
                  group_shapes=((1, 1), (1, 4), (4, 4), (4, 1)))


def rules() -> list:
    return family_rules("mali", KNOBS)


register(TargetSpec(
    name="mali",
    target={"kind": "opencl", "device": "mali"},
    family="opencl",
    geometry=GEOMETRY,
    cost=COST,
    rules=rules,
    description="Arm Mali Bifrost GPU (e.g. G76) over OpenCL",
    aliases=("mali-g76", "opencl"),
    host={"kind": "llvm", "mtriple": "aarch64-linux-gnu"},
))
