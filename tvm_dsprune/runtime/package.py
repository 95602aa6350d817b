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


def write(executable, path, meta: dict, target, cross_compiler: str | None = None) -> Path:
    """Export `executable` and pack it with meta.json into `path` (all or nothing). Code for
    another architecture (target.is_cross) is linked by `cross_compiler`, or stored as object
    files that the board links when it loads them."""
    path = Path(path)
    meta = dict(meta, format=FORMAT, format_version=FORMAT_VERSION, tvm_dsprune_version=__version__,
                tvm_version=tvm_version())
    cross = target.is_cross and cross_compiler is None
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if cross:
            lib_name = "lib.tar"          # object files: the board links them when it loads them
            executable.export_library(str(tmp / lib_name))
        else:
            lib_name = "lib.so"
            if cross_compiler:
                from tvm.support import cc

                executable.export_library(str(tmp / lib_name), fcompile=cc.cross_compiler(cross_compiler))
            else:
                executable.export_library(str(tmp / lib_name))
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
