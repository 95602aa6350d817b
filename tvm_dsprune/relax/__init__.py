"""Relax passes and the per-target compile pipeline.

sparsify_depthwise: depthwise conv2d with a pruned constant weight -> DR block-sparse kernel.
sparsify_dense:     1x1 conv2d / matmul with a pruned constant weight -> group-sparse kernel.
pipeline:           import -> bind/fold -> sparsify -> legalize/fuse -> schedules -> build.
Both passes are ordinary tvm.ir.transform module passes; drop them into any Relax pipeline:

    from tvm_dsprune.relax import SparsifyDepthwise, SparsifyDense
"""
from .sparsify_dense import SparsifyDense
from .sparsify_depthwise import SparsifyDepthwise

__all__ = ["SparsifyDense", "SparsifyDepthwise"]
