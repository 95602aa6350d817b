"""CUDA device code compiled here, for the target's arch, and stored in the package.

Without a CUDA driver (any build machine without a GPU), TVM keeps a CUDA module as source: a
package would then need NVRTC (`cuda-bindings`) or nvcc on the GPU machine to compile it at load
time, and the packages of two archs would be the same bytes. This step compiles the source with
nvcc into a fatbin holding machine code (SASS) for the target's arch and PTX of its compute
capability, so loading needs only the TVM runtime and the driver, and a GPU newer than the arch
still runs it: the driver JIT-compiles the PTX.

The fatbin takes the source's place when the library is written: TVM serializes a CUDA module
as [format][function table][code] (its CUDAModuleNode), and `export_library`'s `fpack_imports`
hook lets us write the packed imports ourselves, with format "fatbin" and the fatbin as code.
The loader (ffi.Module.load_from_bytes.cuda) hands anything but "cuda" source straight to
cuModuleLoadData.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field

from ..errors import CompileError, InputError
from ..targets import compute_capability

CONTAINER = "fatbin"


def nvcc_path() -> str:
    path = shutil.which("nvcc")
    if path is None:
        raise CompileError("compiling CUDA device code needs nvcc (the CUDA toolkit) on PATH, and none was "
                           "found: install the CUDA toolkit, or add its bin folder to PATH")
    return path


def nvcc_version() -> str:
    out = subprocess.run([nvcc_path(), "--version"], capture_output=True, text=True, check=False).stdout
    m = re.search(r"release [\d.]+, V([\d.]+)", out)
    return m.group(1) if m else "unknown"


def nvcc_archs() -> list[str]:
    """The sm_XX archs this nvcc emits machine code for."""
    out = subprocess.run([nvcc_path(), "--list-gpu-code"], capture_output=True, text=True, check=False).stdout
    return [a for a in out.split() if a.startswith("sm_")]


def formats(arch: str) -> list[str]:
    """What the fatbin of `arch` holds: its machine code and the PTX of its compute capability."""
    return [arch, "compute_" + arch.split("_", 1)[1]]


@dataclass
class DeviceCode:
    """The compiled device code of one executable: the fatbin of each CUDA source."""

    arch: str
    nvcc: str
    binaries: dict[str, bytes] = field(default_factory=dict, repr=False)     # source -> fatbin

    @property
    def meta(self) -> dict:
        """meta.json's "device_code": what the package holds and where it runs."""
        major, minor = compute_capability(self.arch)
        return {"kind": "cuda", "arch": self.arch, "container": CONTAINER, "formats": formats(self.arch),
                "nvcc": self.nvcc, "bytes": sum(len(b) for b in self.binaries.values()),
                "runs_on": f"compute capability {major}.{minor} and newer (newer majors JIT-compile the PTX)"}

    def pack_imports(self, mod, is_system_lib: bool, symbol_prefix: str, workspace_dir: str) -> str:
        """export_library's fpack_imports: TVM's packed imports with every CUDA module's source
        replaced by its fatbin, as an object file for the host target."""
        import tvm
        import tvm_ffi

        blob = bytes(tvm.get_global_func("runtime.ModulePackImportsToTensor")(mod).numpy())
        packed = _swap_cuda_code(blob, self.binaries)
        llvm_target = next((m.get_function("_get_target_string")() for m in _walk(mod) if m.kind == "llvm"), None)
        if llvm_target is None:
            raise CompileError("the executable has no llvm host module to carry the CUDA device code")
        codegen_blob = tvm_ffi.get_global_func("codegen.codegen_blob")
        path = os.path.join(workspace_dir, f"{symbol_prefix}devc.o")
        codegen_blob(packed, is_system_lib, llvm_target, symbol_prefix).write_to_file(path)
        return path


def _walk(mod):
    yield mod
    for m in mod.imports:
        yield from _walk(m)


def cuda_sources(mod) -> list[str]:
    """The CUDA C source of every CUDA module an executable imports."""
    return [m.inspect_source("cuda") for m in _walk(mod) if m.kind == "cuda"]


def compile_device_code(executable, target) -> DeviceCode:
    """nvcc-compile every CUDA module of `executable` for `target.cuda_arch` (a targets.Target)."""
    from tvm.support import nvcc

    arch = target.cuda_arch
    available = nvcc_archs()
    if arch not in available:
        raise InputError(f"CUDA arch {arch}: this nvcc ({nvcc_version()}) builds only {', '.join(available)}")
    sources = cuda_sources(executable.mod)
    if not sources:
        raise CompileError("the CUDA build holds no CUDA module: its kernels went to the host")
    sm, compute = formats(arch)
    code = DeviceCode(arch, nvcc_version())
    gencode = ["-gencode", f"arch={compute},code=[{sm},{compute}]"]
    for src in sources:
        if not src:
            raise CompileError("a CUDA module holds no source: it was compiled already, by another loader")
        try:
            with target.tvm():               # TVM's nvcc driver reads the compute version from the target
                code.binaries[src] = bytes(nvcc.compile_cuda(src, target_format=CONTAINER, arch=gencode,
                                                             compiler="nvcc"))
        except RuntimeError as err:
            tail = str(err).strip().splitlines()[-3:]
            raise CompileError(f"nvcc failed on the generated CUDA for {arch}: {' | '.join(tail)}") from None
    return code


# --- TVM's packed-imports blob (src/target/codegen.cc: PackImportsToBytes) -------------------------
# [u64 size] [vector<u64> import tree row_ptr] [vector<u64> child indices], then per module group a
# string key and, unless the key is "_lib" (the host library itself), the module's bytes. Strings and
# byte arrays are [u64 length][bytes], vectors [u64 count][u64 ...], all little-endian.

def _u64(value: int) -> bytes:
    return int(value).to_bytes(8, "little")


def _read_u64(b: bytes, off: int) -> tuple[int, int]:
    return int.from_bytes(b[off:off + 8], "little"), off + 8


def _read_bytes(b: bytes, off: int) -> tuple[bytes, int]:
    n, off = _read_u64(b, off)
    if off + n > len(b):
        raise CompileError("unexpected layout of TVM's packed modules (a field runs past the end)")
    return b[off:off + n], off + n


def _swap_cuda_code(blob: bytes, binaries: dict[str, bytes]) -> bytes:
    """The packed-imports blob with each CUDA module's [fmt "cuda"][fmap][source] turned into
    [fmt "fatbin"][fmap][fatbin]; any other layout is an error, never a silent source package."""
    size, off = _read_u64(blob, 0)
    if size != len(blob) - 8:
        raise CompileError("unexpected layout of TVM's packed modules (size header)")
    start = off
    row_ptr_n, off = _read_u64(blob, off)
    off += 8 * row_ptr_n
    child_n, off = _read_u64(blob, off)
    off += 8 * child_n
    out = [blob[start:off]]
    swapped = 0
    for _ in range(row_ptr_n - 1):
        key, off = _read_bytes(blob, off)
        out.append(_u64(len(key)) + key)
        if key == b"_lib":
            continue
        body, off = _read_bytes(blob, off)
        if key == b"cuda":
            body = _cuda_entry(body, binaries)
            swapped += 1
        out.append(_u64(len(body)) + body)
    if off != len(blob) or swapped != len(binaries):
        raise CompileError(f"unexpected layout of TVM's packed modules ({swapped} CUDA module(s) found, "
                           f"{len(binaries)} compiled)")
    body = b"".join(out)
    return _u64(len(body)) + body


def _cuda_entry(body: bytes, binaries: dict[str, bytes]) -> bytes:
    fmt, off = _read_bytes(body, 0)
    if fmt != b"cuda":
        raise CompileError(f"a CUDA module is already in format {fmt.decode(errors='replace')!r}")
    for src, fatbin in binaries.items():
        code = src.encode()
        tail = _u64(len(code)) + code
        if body.endswith(tail):
            fmap = body[off:len(body) - len(tail)]
            return _u64(len(CONTAINER)) + CONTAINER.encode() + fmap + _u64(len(fatbin)) + fatbin
    raise CompileError("a CUDA module's source is not the one compiled")
