"""The outside tools a build calls, checked before the build starts.

TVM finds them only when it needs them, minutes into a compile, and fails with a traceback:
the cross compiler that links a board's library, and CUDA's libdevice that the nvptx backend
links into every kernel. Each missing one is one InputError here, before any work.
"""
from __future__ import annotations

import glob
import os
import shutil

from ..errors import InputError
from ..interrupts import reraise_if_interrupt


def require_cross_compiler(cross_compiler: str) -> None:
    """InputError unless `cross_compiler` is a program this machine can run."""
    if shutil.which(cross_compiler) is None:
        where = "not an executable file" if os.sep in cross_compiler else "no such compiler on PATH"
        raise InputError(f"--cross-compiler {cross_compiler!r}: {where} "
                         "(e.g. Debian's g++-aarch64-linux-gnu gives aarch64-linux-gnu-g++)")


def check_tools(target, cross_compiler: str | None = None, form: str | None = None) -> None:
    """InputError for a bad target, a missing tool, or an output form the target cannot have.
    `target` is a targets.Target; `form` is runtime.package.form_of(output) or None."""
    tvm_target = target.tvm()                      # a bad target is one message, here
    if cross_compiler is not None:
        require_cross_compiler(cross_compiler)
    if form == "library" and target.is_cross and cross_compiler is None:
        raise InputError(f"a .so for {target.code_arch} must be linked for that machine: give "
                         f"--cross-compiler (e.g. {target.code_arch}-linux-gnu-g++), or write a .tar package "
                         "(its object files are linked on the board)")
    if tvm_target.kind.name == "nvptx":
        _check_libdevice(tvm_target)


def _check_libdevice(tvm_target) -> None:
    from tvm.support import nvcc

    mcpu = str(tvm_target.attrs.get("mcpu", "sm_50"))
    try:
        arch = int(mcpu.split("_")[-1])
        path = nvcc.find_libdevice_path(arch)
        if not os.path.isfile(path):
            raise FileNotFoundError(path)
    except Exception as err:  # noqa: BLE001 - TVM's search raises RuntimeError/OSError/ValueError
        reraise_if_interrupt(err)
        hint = _cuda_path_hint()
        raise InputError(f"target nvptx ({mcpu}) needs CUDA's libdevice, and TVM cannot find it "
                         f"({str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__}); "
                         f"set CUDA_PATH to the CUDA toolkit{hint}, or use --target cuda") from None


def _cuda_path_hint() -> str:
    """Where a CUDA toolkit with libdevice is, if one is in the usual places."""
    nvcc_bin = shutil.which("nvcc")
    roots = [os.path.dirname(os.path.dirname(os.path.realpath(nvcc_bin)))] if nvcc_bin else []
    roots += ["/usr/local/cuda"] + sorted(glob.glob("/usr/local/cuda-*"), reverse=True)
    for root in roots:
        if os.path.isdir(os.path.join(root, "nvvm", "libdevice")):
            return f" (here: CUDA_PATH={root})"
    return ""
