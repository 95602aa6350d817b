"""The CPU targets' TIR pipeline: TVM's default lowering, then the project's passes.

StackScratch (stack_scratch.py) gives per-task scratch planes stack slots; SerialSmallKernels
(serial_small.py) runs kernels too small for the thread pool on one thread. Registered in TVM's
table of TIR pipelines under PIPELINE, for tvm.compile(..., tir_pipeline=register()).
"""
from __future__ import annotations

import tvm

PIPELINE = "dsprune_cpu"


def register() -> str:
    """PIPELINE in TVM's table of TIR pipelines (once); its name."""
    from tvm.tirx import compilation_pipeline as table

    from .serial_small import serial_small_kernels
    from .stack_scratch import stack_scratch

    if PIPELINE not in table.PIPELINE_MAP:
        default = table.PIPELINE_MAP["s_tir"]

        def pipeline(**kwargs):
            lower, host, device = default(**kwargs)
            return tvm.transform.Sequential([lower, stack_scratch, serial_small_kernels], name=PIPELINE), host, device

        table.PIPELINE_MAP[PIPELINE] = pipeline
    return PIPELINE
