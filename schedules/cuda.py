"""NVIDIA GPUs (CUDA): DEPrune's geometry — 32-channel sub-GEMMs walked in 32-wide K tiles."""
from . import TargetSpec, register
from .geometry import TileGeometry

GEOMETRY = TileGeometry(dr_group=32, k_tile=32, group=(1, 4), thread_rows=4, workgroup_rows=32,
                        vector_width=4, tile_overhead=1.0)

register(TargetSpec(
    name="cuda",
    target={"kind": "cuda", "arch": "sm_80"},
    family="cuda",
    geometry=GEOMETRY,
    description="NVIDIA GPU, sm_80 code (A100 class); runs on sm_80 and newer",
    aliases=("nvidia", "sm_80"),
))
