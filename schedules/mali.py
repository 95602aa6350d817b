"""Arm Mali GPUs (OpenCL): 128-bit vector units, so 1x4 float groups and 4-wide K tiles."""
from . import TargetSpec, register
from .common import as_dlight_rules
from .geometry import TileGeometry

GEOMETRY = TileGeometry(dr_group=16, k_tile=4, group=(1, 4), thread_rows=4, workgroup_rows=16,
                        vector_width=4, tile_overhead=1.0)



def rules() -> list:
    from functools import partial

    from . import gpu

    return as_dlight_rules([
        ("mali.dr_depthwise", partial(gpu.schedule_dr_depthwise, threads=64)),
        ("mali.group_dense", partial(gpu.schedule_group_dense, threads=64)),
    ])


register(TargetSpec(
    name="mali",
    target={"kind": "opencl", "device": "mali"},
    family="opencl",
    geometry=GEOMETRY,
    rules=rules,
    description="Arm Mali Bifrost GPU (e.g. G76) over OpenCL",
    aliases=("mali-g76", "opencl"),
    host={"kind": "llvm", "mtriple": "aarch64-linux-gnu"},
))
