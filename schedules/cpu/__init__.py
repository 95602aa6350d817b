"""The CPU (llvm): sub-GEMM channels are parallel tasks, pixels are vectorised.

Geometry: the DR group and K tile only matter to the mask step here (a CPU walks each channel's
own kept taps, so any K is as fast as its length). The kernels take their vector lanes from the
target (8 float32 lanes with AVX2, 16 with AVX-512); the geometry's vector_width of 16 is what
the mask step aligns to, whole vectors on either.

Rules (one per module, tried in this order on every fused PrimFunc): dw_pointwise (a depthwise
conv fused with the group-sparse 1x1 conv after it), dr_depthwise and group_dense (the two
sparse kernels), dense_depthwise, dense_pointwise, dense_conv,
conv_transpose and dense_matmul (layers that stay dense), row_reduction (a sum over the
innermost axes: a squeeze-excite block's mean), TVM's own GEMV and reduction rules, and
fallback (every other function).
"""
from .. import TargetSpec, register
from ..cost import SparseCost
from ..geometry import TileGeometry

GEOMETRY = TileGeometry(dr_group=16, k_tile=4, group=(1, 4), thread_rows=4, workgroup_rows=16,
                        vector_width=16, tile_overhead=1.0, pixel_tile=16)

# Measured here (BENCHMARKS.md, per layer against the dense schedules of this family): the DR
# kernel wins from ~50% pruned on; a stored multiply-add of the group kernel costs about two of
# the dense 1x1 conv's (tools/bench_pw.py: a 90% 1x4-group layer runs in 0.15-0.32 of the dense
# time); a 50% filter-pruned layer runs compact (dense kernel on the kept filters, 0.35-0.52).
# A dense depthwise conv runs the DR kernel's CPU form with every tap kept (tools/bench_dw.py:
# 1.25-1.4x faster than the dense schedule at stride 1 from 28x28 up, 2-5x at stride 2, 1.2-3.6x
# for 5x5), except 3x3 ones at stride 1 on 14x14 and smaller outputs, where the dense schedule's
# register tiles are as fast (14x14) or faster (7x7: 25 against 32 us for 960 channels). A pruned layer
# runs the DR kernel at every size: at 78% it beats the best dense form on every MobileNet-V2
# and EfficientNet-B0 shape, 7x7 included (960 channels: 18 against 25 us).
# A depthwise conv and the group-sparse 1x1 conv after it run as one kernel where the output is
# 14 to 28 pixels wide. Alone and hot the fused kernel is mostly slower than the two kernels
# one after the other (tools/bench_fused.py: 0.87-1.6x their time); in the model it saves the
# depthwise output's trip through memory. MobileNet-V2's CPU plan end to end, the two builds
# alternating in one process (paired ratios against no fusion): fused at 14-28 wide outputs
# 0.93-0.97; at every width but 7 (112 and 56 too) 0.99-1.02; at 14 only 0.94-0.98.
COST = SparseCost(dw_column=1.6, group_mac=2.0, group_fixed=2.0, dw_planes_from=15 * 15, fuse_widths=(14, 28),
                  group_shapes=((1, 1), (1, 4), (1, 8), (4, 1), (4, 4), (1, 16)))


def rules() -> list:
    """The CPU rule list (imports TVM: called only when compiling)."""
    from tvm.s_tir import dlight as dl

    from ..rule import guarded
    from .conv_transpose import ConvTranspose
    from .dense_conv import DenseConv
    from .dense_depthwise import DenseDepthwise
    from .dense_matmul import DenseMatmul
    from .dense_pointwise import DensePointwise
    from .dr_depthwise import DRDepthwise
    from .dw_pointwise import DWPointwise
    from .fallback import Fallback
    from .group_dense import GroupDense
    from .row_reduction import RowReduction

    return ([DWPointwise(), DRDepthwise(), GroupDense(), DenseDepthwise(), DensePointwise(), DenseConv(), ConvTranspose(),
             DenseMatmul(), RowReduction()]
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
