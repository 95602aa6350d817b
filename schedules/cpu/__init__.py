"""The CPU (llvm): sub-GEMM channels are parallel tasks, pixels are vectorised.

Geometry: the DR group and K tile only matter to the mask step here (a CPU walks each channel's
own kept taps, so any K is as fast as its length); output rows are padded to 16 lanes so every
vector is whole (one AVX-512 register, two AVX2 registers).

Rules (one per module, tried in this order on every fused PrimFunc): dr_depthwise and
group_dense (the two sparse kernels), dense_depthwise, dense_conv, conv_transpose and
dense_matmul (layers that stay dense), TVM's own GEMV and reduction rules, and fallback (every
other function).
"""
from .. import TargetSpec, register
from ..cost import SparseCost
from ..geometry import TileGeometry

GEOMETRY = TileGeometry(dr_group=16, k_tile=4, group=(1, 4), thread_rows=4, workgroup_rows=16,
                        vector_width=16, tile_overhead=1.0, pixel_tile=16)

# Measured here (BENCHMARKS.md, per layer against the dense schedules of this family): a
# stored multiply-add of the group kernel costs about two of the dense 1x1 conv's
# (tools/bench_pw.py: a 90% 1x4-group layer runs in 0.15-0.32 of the dense time); a 50%
# filter-pruned layer runs compact (dense kernel on the kept filters, 0.35-0.52).
# The DR kernel against the dense depthwise conv, every DW layer of MobileNet-V2 (224) and of the
# DB detector (640) at 78% (BWT), one thread, AVX2: 3x3 stride 1 ran slower sparse in 16 of 20
# layers (0.55-2.4x the dense time), 5x5 stride 1 0.6-1.1x, stride 2 0.18-0.9x. Per output
# pixel and channel that is a fixed ~8 dense MACs plus ~3 per kept tap, against a dense tap
# costing 1 at stride 1 and about 2 at stride 2: sparse where it wins, dense elsewhere.
COST = SparseCost(dw_column=3.2, dw_pixel=7.8, dw_strided=2.0, group_mac=2.0, group_fixed=2.0,
                  group_shapes=((1, 1), (1, 4), (1, 8), (4, 1), (4, 4), (1, 16)))


def rules() -> list:
    """The CPU rule list (imports TVM: called only when compiling)."""
    from tvm.s_tir import dlight as dl

    from ..rule import guarded
    from .conv_transpose import ConvTranspose
    from .dense_conv import DenseConv
    from .dense_depthwise import DenseDepthwise
    from .dense_matmul import DenseMatmul
    from .dr_depthwise import DRDepthwise
    from .fallback import Fallback
    from .group_dense import GroupDense

    return ([DRDepthwise(), GroupDense(), DenseDepthwise(), DenseConv(), ConvTranspose(), DenseMatmul()]
            + guarded([dl.cpu.GEMV(), dl.cpu.Reduction()]) + [Fallback()])


register(TargetSpec(
    name="llvm",
    target={"kind": "llvm"},
    family="cpu",
    geometry=GEOMETRY,
    cost=COST,
    rules=rules,
    description="this machine's CPU (llvm; -mcpu of the host)",
    aliases=("cpu", "host"),
))
