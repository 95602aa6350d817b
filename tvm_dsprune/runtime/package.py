"""The compiled package: one .tar with the exported library and meta.json.

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

    if shutil.which(cross_compiler) is None:
        raise InputError(f"--cross-compiler {cross_compiler!r}: no such compiler on PATH "
                         "(e.g. Debian's g++-aarch64-linux-gnu gives aarch64-linux-gnu-g++)")
    try:
        opts = shlex.split(options) if options else None
    except ValueError as err:
        raise InputError(f"--cross-compiler-options {options!r}: {err}") from None
    return cc.cross_compiler(cross_compiler, options=opts)


def write(executable, path, meta: dict, target, cross_compiler: str | None = None,
          cross_compiler_options: str | None = None, ir=None) -> Path:
    """Export `executable` and pack it with meta.json into `path` (all or nothing). Code for
    another architecture (target.is_cross) is linked by `cross_compiler` (with
    `cross_compiler_options`), or stored as object files that the board links when it loads
    them (TVM's RPC server does). `ir`: the scheduled Relax module, carried by OpenCL packages."""
    path = Path(path)
    if cross_compiler_options and not cross_compiler:
        raise InputError("--cross-compiler-options needs --cross-compiler")
    fcompile = cross_compile_function(cross_compiler, cross_compiler_options) if cross_compiler else None
    meta = dict(meta, format=FORMAT, format_version=FORMAT_VERSION, tvm_dsprune_version=__version__,
                tvm_version=tvm_version(), arch=target.code_arch)
    objects = target.is_cross and fcompile is None
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        lib_name = "lib.tar" if objects else "lib.so"
        try:
            if fcompile is not None:
                executable.export_library(str(tmp / lib_name), fcompile=fcompile)
            else:
                executable.export_library(str(tmp / lib_name))
        except Exception as err:  # noqa: BLE001 - the linker's failure comes back as a RuntimeError
            raise CompileError(f"linking the {target.code_arch} library"
                               + (f" with {cross_compiler}" if cross_compiler else "")
                               + f" failed: {_linker_message(err)}") from None
        meta["library"] = lib_name
        meta["library_kind"] = "objects" if objects else "shared"
        members = [lib_name, "meta.json"]
        if ir is not None:
            import tvm

            (tmp / "ir.json").write_text(tvm.ir.save_json(ir))
            meta["ir"] = "ir.json"
            members.append("ir.json")
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
        with output_set() as out:
            with tarfile.open(out.path(path), "w") as tar:
                for name in sorted(members, key=lambda n: n != "meta.json"):
                    tar.add(tmp / name, arcname=name)
    return path


def _linker_message(err: Exception) -> str:
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    useful = [ln for ln in lines if "error" in ln.lower() or "wrong format" in ln or "not found" in ln]
    return "; ".join((useful or lines or [type(err).__name__])[-2:])


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
        for name in ("meta.json", meta["library"], *([meta["ir"]] if meta.get("ir") else [])):
            member = tar.getmember(name)
            if not member.isfile() or "/" in name or ".." in name:
                raise InputError(f"package {path}: unexpected member {name!r}")
            tar.extract(member, folder, filter="data")
    return Package(Path(path), meta, folder)
