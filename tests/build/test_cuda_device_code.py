"""CUDA packages carry device code compiled here by nvcc for the target's arch: machine code
(SASS) for the arch and PTX of its compute capability, checked by NVIDIA's own tools (cuobjdump
lists it, nvdisasm disassembles it for that arch). Bad archs and a missing nvcc are one message."""
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from conftest import console_script
from tvm_dsprune import targets
from tvm_dsprune.build.compile import compile
from tvm_dsprune.errors import CompileError, InputError
from tvm_dsprune.pruning.onnx_prune import prune
from tvm_dsprune.runtime.package import device_code_fit

needs_nvcc = pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc is not installed")
FATBIN_MAGIC = struct.pack("<I", 0xBA55ED50)


def nvidia_tool(name: str) -> str:
    """cuobjdump / nvdisasm: on PATH, or from the nvidia-cuda-cuobjdump / -nvdisasm wheels."""
    found = shutil.which(name)
    if found:
        return found
    wheel = Path(sys.prefix) / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages" / \
        "nvidia" / "cu13" / "bin" / name
    if not wheel.exists():
        pytest.skip(f"{name} is not installed (pip install nvidia-cuda-{name})")
    return str(wheel)


def library_bytes(package: Path) -> bytes:
    """The package's library; for a board, the object files of its (gzipped) lib.tar."""
    with tarfile.open(package) as tar:
        name = json.loads(tar.extractfile("meta.json").read())["library"]
        data = tar.extractfile(name).read()
    if name.endswith(".tar"):
        with tarfile.open(fileobj=io.BytesIO(data)) as inner:
            data = b"".join(inner.extractfile(m).read() for m in inner.getmembers() if m.isfile())
    return data


def fatbins(blob: bytes) -> list[bytes]:
    """Every fatbin inside a library, by its header (magic, version, header size, payload size)."""
    out, i = [], blob.find(FATBIN_MAGIC)
    while i >= 0:
        _, _, header, size = struct.unpack_from("<IHHQ", blob, i)
        out.append(blob[i:i + header + size])
        i = blob.find(FATBIN_MAGIC, i + header + size)
    return out


@pytest.fixture(scope="module")
def pruned_tiny(tmp_path_factory, zoo_onnx):
    out = tmp_path_factory.mktemp("cuda") / "tiny_p.onnx"
    prune(zoo_onnx("tiny"), out, dw="dcp-bh:0.8", pw="group-optimal:0.8", target="cuda")
    return out


@pytest.fixture(scope="module")
def cuda_packages(pruned_tiny, tmp_path_factory):
    """arch -> (package, meta) of the pruned tiny model built for sm_80 and sm_90."""
    if shutil.which("nvcc") is None:
        pytest.skip("nvcc is not installed")
    folder = tmp_path_factory.mktemp("cuda_packages")
    out = {}
    for arch in ("sm_80", "sm_90"):
        pkg = folder / f"{arch}.tar"
        result = compile(pruned_tiny, {"kind": "cuda", "arch": arch}, pkg, sparse="on", target_host="llvm")
        out[arch] = (pkg, result.meta)
    return out


@needs_nvcc
def test_packages_hold_machine_code_and_ptx_for_their_arch(cuda_packages, tmp_path):
    cuobjdump, nvdisasm = nvidia_tool("cuobjdump"), nvidia_tool("nvdisasm")
    env = dict(os.environ, PATH=f"{Path(nvdisasm).parent}{os.pathsep}{os.environ['PATH']}")
    binaries = {}
    for arch, (pkg, meta) in cuda_packages.items():
        code = meta["device_code"]
        assert (code["arch"], code["container"], code["formats"]) == (arch, "fatbin", [arch, "compute_" + arch[3:]])
        lib = library_bytes(pkg)
        assert b"__global__" not in lib                       # no CUDA source left for a loader to compile
        (fatbin,) = fatbins(lib)
        assert len(fatbin) == code["bytes"]
        binaries[arch] = fatbin
        folder = tmp_path / arch
        folder.mkdir()
        (folder / "k.fatbin").write_bytes(fatbin)
        listing = subprocess.run([cuobjdump, "--list-elf", "--list-ptx", "k.fatbin"], cwd=folder, env=env,
                                 capture_output=True, text=True, check=True).stdout
        assert f"ELF file    1: k.1.{arch}.cubin" in listing and f"PTX file    1: k.1.{arch}.ptx" in listing
        assert listing.count("file ") == 2
        subprocess.run([cuobjdump, "-xelf", "all", "k.fatbin"], cwd=folder, env=env, check=True, capture_output=True)
        sass = subprocess.run([nvdisasm, f"k.1.{arch}.cubin"], cwd=folder, capture_output=True, text=True,
                              check=True).stdout
        assert f".target\t{arch}" in sass
        assert "dsprune_dr_depthwise" in sass and "dsprune_group_dense" in sass
    assert binaries["sm_80"] != binaries["sm_90"]


# A driver stub (every call fails) lets TVM's CUDA runtime library load on this GPU-less machine,
# so that TVM's own loader (ffi.Module.load_from_bytes.cuda) reads a package's device code back.
DRIVER_STUB = """
#define STUB(name) int name() { return 34; }
STUB(cuDeviceGetName) STUB(cuFuncSetAttribute) STUB(cuLaunchKernelEx) STUB(cuModuleGetFunction)
STUB(cuModuleLoadData) STUB(cuModuleUnload) STUB(cuTensorMapEncodeTiled)
static const char* kMsg = "CUDA driver stub (no GPU)";
int cuGetErrorName(int e, const char** s) { *s = kMsg; return 0; }
int cuGetErrorString(int e, const char** s) { *s = kMsg; return 0; }
"""
READ_BACK = """
import sys, tvm
if tvm.get_global_func("ffi.Module.load_from_bytes.cuda", allow_missing=True) is None:
    print("NO-LOADER"); sys.exit(0)
lib = tvm.runtime.load_module(sys.argv[1])
def walk(m):
    yield m
    for i in m.imports: yield from walk(i)
(cuda,) = [m for m in walk(lib) if m.kind == "cuda"]
sys.stdout.buffer.write(bytes(tvm.get_global_func("runtime.ModulePackImportsToTensor")(cuda).numpy()))
"""


@needs_nvcc
@pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc builds the driver stub")
def test_tvms_cuda_loader_reads_the_fatbin_back_without_compiling(cuda_packages, tmp_path):
    pkg, meta = cuda_packages["sm_90"]
    (tmp_path / "stub.c").write_text(DRIVER_STUB)
    subprocess.run(["gcc", "-shared", "-fPIC", "-Wl,-soname,libcuda.so.1", "-o", str(tmp_path / "libcuda.so.1"),
                    str(tmp_path / "stub.c")], check=True)
    with tarfile.open(pkg) as tar:
        tar.extract("lib.so", tmp_path, filter="data")
    env = dict(os.environ, LD_LIBRARY_PATH=str(tmp_path), TVM_CUDA_COMPILE_MODE="none")
    out = subprocess.run([sys.executable, "-c", READ_BACK, str(tmp_path / "lib.so")], env=env, capture_output=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr.decode()[-1500:]
    if out.stdout == b"NO-LOADER\n":
        pytest.skip("TVM's CUDA runtime library does not load here (no libcudart.so.13)")
    (fatbin,) = fatbins(library_bytes(pkg))
    blob = out.stdout                       # the loaded module, serialized again: [fmt][fmap][code]
    assert _u64(6) + b"fatbin" in blob and blob.endswith(_u64(len(fatbin)) + fatbin)
    assert b"__global__" not in blob


def _u64(n: int) -> bytes:
    return n.to_bytes(8, "little")


@needs_nvcc
def test_a_board_package_carries_the_device_code_in_its_object_files(pruned_tiny, tmp_path):
    result = compile(pruned_tiny, "jetson-orin", tmp_path / "orin.tar", sparse="on")
    assert result.meta["device_code"]["arch"] == "sm_87"
    with tarfile.open(tmp_path / "orin.tar") as tar:
        assert "lib.tar" in tar.getnames()
    (fatbin,) = fatbins(library_bytes(tmp_path / "orin.tar"))
    folder = tmp_path / "orin"
    folder.mkdir()
    (folder / "k.fatbin").write_bytes(fatbin)
    listing = subprocess.run([nvidia_tool("cuobjdump"), "--list-elf", "k.fatbin"], cwd=folder, capture_output=True,
                             text=True, check=True).stdout
    assert "sm_87.cubin" in listing


@pytest.mark.parametrize("target", [{"kind": "cuda", "arch": "sm_999"}, '{"kind": "cuda", "arch": "sm_70"}'])
def test_an_unsupported_arch_is_refused_naming_the_supported_ones(target):
    with pytest.raises(InputError, match=r"is not supported; supported archs: sm_75, sm_80, .*sm_90"):
        targets.resolve(target)


def test_a_cuda_target_without_arch_cannot_build():
    with pytest.raises(InputError, match="names no arch"):
        targets.resolve({"kind": "cuda"}).cuda_arch


def test_the_cli_refuses_a_bad_arch_in_one_line(pruned_tiny, tmp_path):
    out = subprocess.run([str(console_script()), "compile", str(pruned_tiny), "--target",
                          '{"kind": "cuda", "arch": "sm_999"}', "-o", str(tmp_path / "x.tar")],
                         capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "sm_999" in out.stderr and "sm_80" in out.stderr
    assert not (tmp_path / "x.tar").exists()


def test_without_nvcc_a_cuda_package_is_refused_and_nothing_written(pruned_tiny, tmp_path, monkeypatch):
    bare = tmp_path / "bin"
    bare.mkdir()
    for tool in ("g++", "gcc", "c++", "cc", "ld"):          # the host linker stays reachable
        if shutil.which(tool):
            (bare / tool).symlink_to(shutil.which(tool))
    monkeypatch.setenv("PATH", str(bare))
    with pytest.raises(CompileError, match="needs nvcc"):
        compile(pruned_tiny, "cuda", tmp_path / "c.tar", sparse="on", target_host="llvm")
    assert not (tmp_path / "c.tar").exists()


@pytest.mark.parametrize("gpu,verdict", [
    ("8.0", "native"), ("8.6", "same major"), ("9.0", "jit"), ("12.0", "jit"), ("7.5", "refused"),
])
def test_a_gpu_of_another_arch_is_told_plainly(gpu, verdict):
    code = {"kind": "cuda", "arch": "sm_80", "container": "fatbin", "formats": ["sm_80", "compute_80"]}
    if verdict == "refused":
        with pytest.raises(InputError, match=r"CUDA code for sm_80 .* is sm_75 .*compile it for this GPU"):
            device_code_fit(code, gpu)
        return
    notes = device_code_fit(code, gpu)
    if verdict == "native":
        assert notes == []
    elif verdict == "same major":
        assert "runs sm_80 machine code as it is" in notes[0]
    else:
        assert "JIT-compiles the package's PTX (compute_80)" in notes[0]
    assert "source only" in device_code_fit(None, "9.0")[0]
