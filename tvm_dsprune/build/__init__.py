"""Build: the lowered module compiled for its target and written as a package.

compile: `tvm_dsprune.compile` (lower -> tvm.compile -> package). report: the per-layer compile
report (JSON) and its table.
"""
