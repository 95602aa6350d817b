"""The CPU (llvm): sub-GEMMs are parallel tasks, pixels are vectorised, taps unrolled."""
from . import TargetSpec, register
from .geometry import TileGeometry

GEOMETRY = TileGeometry(dr_group=16, k_tile=4, group=(1, 4), thread_rows=4, workgroup_rows=16,
                        vector_width=8, tile_overhead=1.0)

register(TargetSpec(
    name="llvm",
    target={"kind": "llvm"},
    family="cpu",
    geometry=GEOMETRY,
    description="this machine's CPU (x86-64 AVX2 class)",
    aliases=("cpu", "host"),
))
