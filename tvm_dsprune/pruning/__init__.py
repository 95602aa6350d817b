"""The mask step: GPU-aware pruning algorithms in numpy (no TVM), applied to ONNX or torch.

Algorithms: dr (DR layout), dcp (DCP, BWT), hsr (HSR), structured (filter / channel), nm,
groups (unaligned group-level), tile_aware. Plans: methods, plan, masking. Frontends:
onnx_model / onnx_prune (ONNX), torch_module (nn.Module).
"""
