"""Target-independent TIR definitions of the sparse operators.

Each builder returns an s_tir PrimFunc for one layer's shapes. Blocks are named so that schedule
rules (schedules/) find them after FuseTIR has merged the epilogue in:

- `<op>_pad`:  the zero-padded input of the CPU form (CPU schedules build one plane per channel
  with decompose_padding; the GPU form gathers from the input with a bounds check instead);
- `<op>`:      the sparse main block; a data-dependent loop walks the layer's stored columns or
  groups, accumulating into an intermediate buffer (whose width may be padded for vectors);
- `<op>_gather` (group_dense): the compacted rows back in place (data-dependent reads live
  here, where TVM need not re-derive their regions);
- `<op>_out`:  an exact-shape copy of the intermediate: epilogues (bias, folded BN, activation,
  residual add) fused by FuseOps are inlined into this block.

Shapes use int64, as legalized Relax ops do, so FuseTIR can merge the epilogue.
"""
