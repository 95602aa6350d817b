"""The compiled package: one .tar with the exported library and meta.json (or, asked for by
the name NAME.so, the bare shared library alone).

meta.json records the format version, the tvm-dsprune and TVM versions, the target, the input
and output names/shapes/dtypes and the compile report, and what the library is for: the CPU
architecture its code runs on (`arch`) and whether it is a linked shared library or object
files that the machine running it links when it loads them (`library_kind`). Loading checks
the format and the TVM version first: a package from another TVM is refused with one message,
not a loader crash.

A package for an OpenCL target also carries its scheduled Relax module (`ir.json`, TVM's own
JSON form, no pickles), so that its kernels can be replayed on PoCL on a machine without the
GPU (runtime/pocl_rpc.py).
"""
from __future__ import annotations

import json
import shlex
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .. import __version__
from ..errors import CompileError, InputError
from ..frontend.model_io import TensorInfo
from ..interrupts import reraise_if_interrupt
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

    @property
    def arch(self) -> str:
        """The CPU architecture the library's code runs on (x86_64, aarch64, ...)."""
        return package_arch(self.meta)

    @property
    def linked(self) -> bool:
        """A shared library (True), or object files linked where the package is loaded."""
        return self.meta.get("library_kind", "shared" if self.meta["library"].endswith(".so") else "objects") \
            == "shared"

    @property
    def ir(self) -> Path | None:
        """The scheduled Relax module (TVM JSON) an OpenCL package carries, else None."""
        name = self.meta.get("ir")
        return self.folder / name if name else None

    def check_gpu(self, compute_version: str, gpu_name: str = "this GPU") -> list[str]:
        """Whether the package's device code runs on a GPU of `compute_version` ("9.0"): an
        InputError where it cannot, else notes for the user (empty when it is native code)."""
        return device_code_fit(self.meta.get("device_code"), compute_version, f"package {self.path}", gpu_name)


def package_arch(meta: dict) -> str:
    """meta["arch"], or for packages written before it was recorded, the target's triple."""
    if meta.get("arch"):
        return str(meta["arch"])
    from ..targets import machine_triple_arch

    code = meta.get("target_host") or meta.get("target") or {}
    triple = str(code.get("mtriple", ""))
    return triple.split("-")[0] if triple else machine_triple_arch()


def cross_compile_function(cross_compiler: str, options: str | None = None):
    """TVM's fcompile for `cross_compiler` (a C++ compiler on PATH or a path) with extra options
    (one string, split like a shell would: '-static-libstdc++ -L/opt/lib')."""
    from tvm.support import cc

    from ..build.toolchain import require_cross_compiler

    require_cross_compiler(cross_compiler)
    try:
        opts = shlex.split(options) if options else None
    except ValueError as err:
        raise InputError(f"--cross-compiler-options {options!r}: {err}") from None
    return cc.cross_compiler(cross_compiler, options=opts)


FORMS = {".tar": "package", ".so": "library"}


def form_of(path) -> str:
    """"package" for NAME.tar (library and meta.json: what `run` loads), "library" for NAME.so
    (the bare shared library, as tvmc exported it); InputError for any other name."""
    form = FORMS.get(Path(path).suffix.lower())
    if form is None:
        raise InputError(f"output {path}: name it NAME.tar (the package: library and meta.json, what "
                         "`run` loads) or NAME.so (the bare shared library)")
    return form


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


def write(executable, path, meta: dict, target, cross_compiler: str | None = None,
          cross_compiler_options: str | None = None, ir=None, form: str | None = None,
          pack_imports=None) -> Path:
    """Export `executable` to `path` (all or nothing): a package (the library packed with
    meta.json) or, for form "library" (default: from the suffix, see form_of), the bare shared
    library. Code for another architecture (target.is_cross) is linked by `cross_compiler`
    (with `cross_compiler_options`), or stored in the package as object files that the board
    links when it loads them (TVM's RPC server does). `ir`: the scheduled Relax module,
    carried by OpenCL packages. `pack_imports`: export_library's fpack_imports, which writes
    the imported (device) modules (build/cuda.py: compiled CUDA)."""
    path = Path(path)
    form = form or form_of(path)
    if cross_compiler_options and not cross_compiler:
        raise InputError("--cross-compiler-options needs --cross-compiler")
    fcompile = cross_compile_function(cross_compiler, cross_compiler_options) if cross_compiler else None
    meta = dict(meta, format=FORMAT, format_version=FORMAT_VERSION, tvm_dsprune_version=__version__,
                tvm_version=tvm_version(), arch=target.code_arch)
    objects = target.is_cross and fcompile is None and form == "package"
    with tempfile.TemporaryDirectory() as tmp, output_set(path) as out:
        tmp = Path(tmp)
        lib_name = "lib.tar" if objects else "lib.so"
        _export(executable, tmp / lib_name, fcompile, target, cross_compiler, pack_imports)
        if form == "library":
            shutil.copyfile(tmp / lib_name, out.path(path))
            return path
        meta["library"] = lib_name
        meta["library_kind"] = "objects" if objects else "shared"
        members = [lib_name, "meta.json"]
        if ir is not None:
            import tvm

            (tmp / "ir.json").write_text(tvm.ir.save_json(ir))
            meta["ir"] = "ir.json"
            members.append("ir.json")
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
        with tarfile.open(out.path(path), "w") as tar:
            for name in sorted(members, key=lambda n: n != "meta.json"):
                tar.add(tmp / name, arcname=name)
    return path


def _export(executable, dest: Path, fcompile, target, cross_compiler: str | None, pack_imports=None) -> None:
    """export_library; a linker's failure as one CompileError."""
    options = {"fpack_imports": pack_imports} if pack_imports is not None else {}
    if dest.suffix == ".tar":
        executable.mod.export_library(str(dest), **options)
        return
    if fcompile is not None:
        options["fcompile"] = fcompile
    try:
        executable.mod.export_library(str(dest), **options)
    except Exception as err:  # noqa: BLE001 - the linker's failure comes back as any exception
        reraise_if_interrupt(err)
        raise CompileError(f"linking the {target.code_arch} library with "
                           f"{cross_compiler or 'the host C++ compiler'} failed: {_linker_message(err)}") from None


def _linker_message(err: Exception) -> str:
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    useful = [ln for ln in lines if "error" in ln.lower() or "wrong format" in ln or "not found" in ln]
    return "; ".join((useful or lines or [type(err).__name__])[-2:])


def read_meta(path) -> dict:
    """meta.json of a package, checked; InputError for anything that is not a usable package."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"package {path}: no such file")
    if path.suffix.lower() == ".so":
        raise InputError(f"{path} is a bare library (compile -o NAME.so); a package to run is "
                         "compile -o NAME.tar")
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
        for name in ("meta.json", meta["library"], *([meta["ir"]] if meta.get("ir") else [])):
            member = tar.getmember(name)
            if not member.isfile() or "/" in name or ".." in name:
                raise InputError(f"package {path}: unexpected member {name!r}")
            tar.extract(member, folder, filter="data")
    return Package(Path(path), meta, folder)
