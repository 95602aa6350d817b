"""NVIDIA GPUs (CUDA): DEPrune's geometry — 32-channel sub-GEMMs walked in 32-wide K tiles."""
from . import TargetSpec, register
from .common import as_dlight_rules
from .geometry import TileGeometry

GEOMETRY = TileGeometry(dr_group=32, k_tile=32, group=(1, 4), thread_rows=4, workgroup_rows=32,
                        vector_width=4, tile_overhead=1.0)



def rules() -> list:
    from functools import partial

    from . import gpu

    return as_dlight_rules([
        ("cuda.dr_depthwise", partial(gpu.schedule_dr_depthwise, threads=128)),
        ("cuda.group_dense", partial(gpu.schedule_group_dense, threads=128)),
    ])


register(TargetSpec(
    name="cuda",
    target={"kind": "cuda", "arch": "sm_80"},
    family="cuda",
    geometry=GEOMETRY,
    rules=rules,
    description="NVIDIA GPU, sm_80 code (A100 class); runs on sm_80 and newer",
    aliases=("nvidia", "sm_80"),
))
