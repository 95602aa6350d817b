"""The mask step: GPU-aware pruning algorithms in numpy (no TVM), applied to ONNX or torch.

Algorithms: dr (DR layout), dcp (DCP, BWT), hsr (HSR), structured (filter / channel), nm,
groups (unaligned group-level), tile_aware. Plans: methods (the method registry), plan,
masking. Applied to a model: onnx_prune (an ONNX file, through tvm_dsprune.frontend),
torch_module (an nn.Module).
"""
