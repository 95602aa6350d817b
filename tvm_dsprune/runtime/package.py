"""The compiled package: one .tar with the exported library and meta.json.

meta.json records the format version, the tvm-dsprune and TVM versions, the target, the input
and output names/shapes/dtypes and the compile report. Loading checks the format and the TVM
version first: a package from another TVM is refused with one message, not a loader crash.
"""
from __future__ import annotations

import json
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .. import __version__
from ..errors import InputError
from ..frontend.model_io import TensorInfo
from ..outputs import output_set

FORMAT = "tvm-dsprune-package"
FORMAT_VERSION = 1


def tvm_version() -> str:
    import tvm

    return str(tvm.__version__)


def _major_minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


@dataclass
class Package:
    path: Path
    meta: dict
    folder: Path                  # where the tar was unpacked (kept alive by the caller)

    @property
    def library(self) -> Path:
        return self.folder / self.meta["library"]

    @property
    def inputs(self) -> list[TensorInfo]:
        return [TensorInfo.from_dict(d) for d in self.meta["inputs"]]

    @property
    def outputs(self) -> list[TensorInfo]:
        return [TensorInfo.from_dict(d) for d in self.meta["outputs"]]

    @property
    def target_kind(self) -> str:
        return self.meta["target"]["kind"]

    def check_gpu(self, compute_version: str, gpu_name: str = "this GPU") -> list[str]:
        """Whether the package's device code runs on a GPU of `compute_version` ("9.0"): an
        InputError where it cannot, else notes for the user (empty when it is native code)."""
        return device_code_fit(self.meta.get("device_code"), compute_version, f"package {self.path}", gpu_name)


def device_code_fit(device_code: dict | None, compute_version: str, what: str = "the package",
                    gpu_name: str = "this GPU") -> list[str]:
    """CUDA machine code for sm_XY runs on compute capability X.Z with Z >= Y; the PTX beside it
    runs, JIT-compiled by the driver, on any newer major; nothing runs on an older GPU."""
    from ..targets import compute_capability

    if not device_code:
        return [f"{what} holds CUDA source only: loading compiles it on this machine (NVRTC from "
                "cuda-bindings, or nvcc with TVM_CUDA_COMPILE_MODE=nvcc); compile it again to ship machine code"]
    arch = device_code["arch"]
    built = compute_capability(arch)
    here = tuple(int(v) for v in compute_version.split(".")[:2])
    here_arch = f"sm_{here[0]}{here[1]}"
    if here < built:
        raise InputError(f"{what} holds CUDA code for {arch} (compute capability {built[0]}.{built[1]} and newer); "
                         f"{gpu_name} is {here_arch} (compute capability {compute_version}): compile it for this "
                         f"GPU, --target '{{\"kind\": \"cuda\", \"arch\": \"{here_arch}\"}}'")
    if here[0] > built[0]:
        return [f"{what} holds CUDA code for {arch}; {gpu_name} is {here_arch}: the driver JIT-compiles the "
                f"package's PTX ({', '.join(device_code['formats'][1:])}) when it loads, and the code does not use "
                f"{here_arch}'s own features: compile for {here_arch} for native code"]
    if here != built:
        return [f"{what} holds CUDA code for {arch}; {gpu_name} is {here_arch}, which runs {arch} machine code as it is"]
    return []


def write(executable, path, meta: dict, target, cross_compiler: str | None = None, pack_imports=None) -> Path:
    """Export `executable` and pack it with meta.json into `path` (all or nothing). Code for
    another architecture (target.is_cross) is linked by `cross_compiler`, or stored as object
    files that the board links when it loads them. `pack_imports`: export_library's
    fpack_imports, which writes the imported (device) modules (build/cuda.py: compiled CUDA)."""
    path = Path(path)
    meta = dict(meta, format=FORMAT, format_version=FORMAT_VERSION, tvm_dsprune_version=__version__,
                tvm_version=tvm_version())
    cross = target.is_cross and cross_compiler is None
    export = executable.mod.export_library
    options = {"fpack_imports": pack_imports} if pack_imports is not None else {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if cross:
            lib_name = "lib.tar"          # object files: the board links them when it loads them
            export(str(tmp / lib_name), **options)
        else:
            lib_name = "lib.so"
            if cross_compiler:
                from tvm.support import cc

                export(str(tmp / lib_name), fcompile=cc.cross_compiler(cross_compiler), **options)
            else:
                export(str(tmp / lib_name), **options)
        meta["library"] = lib_name
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
        with output_set() as out:
            with tarfile.open(out.path(path), "w") as tar:
                tar.add(tmp / "meta.json", arcname="meta.json")
                tar.add(tmp / lib_name, arcname=lib_name)
    return path


def read_meta(path) -> dict:
    """meta.json of a package, checked; InputError for anything that is not a usable package."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"package {path}: no such file")
    try:
        with tarfile.open(path) as tar:
            member = tar.getmember("meta.json")
            meta = json.loads(tar.extractfile(member).read())
    except KeyError:
        raise InputError(f"{path} is not a tvm-dsprune package (no meta.json)") from None
    except (tarfile.TarError, json.JSONDecodeError, UnicodeDecodeError, OSError) as err:
        raise InputError(f"{path} is not a tvm-dsprune package ({err})") from None
    if meta.get("format") != FORMAT:
        raise InputError(f"{path} is not a tvm-dsprune package (format {meta.get('format')!r})")
    if meta.get("format_version") != FORMAT_VERSION:
        raise InputError(f"package {path} has format version {meta.get('format_version')}; this tvm-dsprune "
                         f"reads version {FORMAT_VERSION}: compile the model again")
    built, here = str(meta.get("tvm_version", "?")), tvm_version()
    if _major_minor(built) != _major_minor(here):
        raise InputError(f"package {path} was built with TVM {built}; this is TVM {here}: compile the "
                         "model again with this version")
    return meta


def load(path, folder: str | Path) -> Package:
    """Check and unpack a package into `folder` (a temporary folder the caller owns)."""
    meta = read_meta(path)
    folder = Path(folder)
    with tarfile.open(path) as tar:
        for name in ("meta.json", meta["library"]):
            member = tar.getmember(name)
            if not member.isfile() or "/" in name or ".." in name:
                raise InputError(f"package {path}: unexpected member {name!r}")
            tar.extract(member, folder, filter="data")
    return Package(Path(path), meta, folder)
