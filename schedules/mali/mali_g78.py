"""Arm Mali-G78 (Valhall): the Mali family's schedules with Valhall's tiles.

An example of adding a GPU in one file. Valhall issues 16-wide warps (Bifrost: 8-wide quads), so
sub-GEMMs of 16 channels and 8-wide K tiles fit it, with larger work-groups; float4 vectors stay.
"""
from .. import TargetSpec, register
from ..geometry import TileGeometry
from ..gpu import GPUKnobs, family_rules
from . import COST

GEOMETRY = TileGeometry(dr_group=16, k_tile=8, group=(1, 4), thread_rows=4, workgroup_rows=16,
                        vector_width=4, tile_overhead=1.0)
KNOBS = GPUKnobs(pixel_threads=(16, 32, 64), default_pixel_threads=64,
                 channel_threads=(1, 2, 4), default_channel_threads=1,
                 block_threads=(1, 2), default_block_threads=2,
                 pixel_vector=4, shared_staging=False, max_threads=512)


def rules() -> list:
    return family_rules("mali-g78", KNOBS)


register(TargetSpec(
    name="mali-g78",
    target={"kind": "opencl", "device": "mali"},
    family="opencl",
    geometry=GEOMETRY,
    cost=COST,
    rules=rules,
    description="Arm Mali-G78 (Valhall) over OpenCL",
    aliases=("valhall",),
    host={"kind": "llvm", "mtriple": "aarch64-linux-gnu"},
))
