"""A CPU-only 64-bit Arm board (Cortex-A53/A72/A76 class, aarch64 Linux): the CPU family's rules
with NEON's geometry.

An example of adding a CPU board in one file. NEON registers hold 4 floats, so output rows are
padded to 4-pixel vectors and 1x4 groups are one register; sub-GEMMs of 16 channels and 4-wide
K tiles are the CPU family's. The code is cross-compiled here: give `--cross-compiler
aarch64-linux-gnu-g++`, or let the board link the object files when it loads them. The cost model
is the CPU family's, measured on x86 (BENCHMARKS.md); measure on the board before trusting it.
"""
from .. import TargetSpec, register
from ..geometry import TileGeometry
from . import COST, rules

GEOMETRY = TileGeometry(dr_group=16, k_tile=4, group=(1, 4), thread_rows=4, workgroup_rows=16,
                        vector_width=4, tile_overhead=1.0, pixel_tile=4)

register(TargetSpec(
    name="aarch64-cpu",
    target={"kind": "llvm", "mtriple": "aarch64-linux-gnu", "mattr": ["+neon"]},
    family="cpu",
    geometry=GEOMETRY,
    cost=COST,
    rules=rules,
    description="a 64-bit Arm board's CPU (aarch64 Linux, NEON), cross-compiled",
    aliases=("arm64-cpu", "neon"),
))
