"""Relax passes and the one lowering path.

fold_constant_channels: input channels that filter pruning made constant -> the next layer's bias.
sparsify_depthwise: depthwise conv2d with a pruned constant weight -> DR block-sparse kernel.
sparsify_dense:     1x1 conv2d / matmul with a pruned constant weight -> group-sparse kernel.
fuse_dw_pointwise:  a depthwise kernel and the group-sparse 1x1 kernel after it -> one kernel (CPU).
layer_records:      what the passes decided per layer; the records travel with the module.
pipeline:           the per-target pass list: fold -> sparsify -> legalize/fuse -> schedules -> lower.
lowering:           ONNX -> Relax -> that pipeline: what compile, tuning and the PoCL harness share.
The passes are ordinary tvm.ir.transform module passes; drop them into any Relax pipeline:

    from tvm_dsprune.relax import SparsifyDepthwise, SparsifyDense
"""


def __getattr__(name):
    # Lazy, so that layer_records (TVM-free) can be imported without TVM.
    if name == "SparsifyDense":
        from .sparsify_dense import SparsifyDense
        return SparsifyDense
    if name == "FoldConstantChannels":
        from .fold_constant_channels import FoldConstantChannels
        return FoldConstantChannels
    if name == "FuseDepthwisePointwise":
        from .fuse_dw_pointwise import FuseDepthwisePointwise
        return FuseDepthwisePointwise
    if name == "SparsifyDepthwise":
        from .sparsify_depthwise import SparsifyDepthwise
        return SparsifyDepthwise
    raise AttributeError(f"module 'tvm_dsprune.relax' has no attribute {name!r}")


__all__ = ["FoldConstantChannels", "FuseDepthwisePointwise", "SparsifyDense", "SparsifyDepthwise"]
