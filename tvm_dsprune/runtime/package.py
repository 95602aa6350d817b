"""The compiled package: one .tar with the exported library and meta.json (or, asked for by
the name NAME.so, the bare shared library alone).

meta.json records the format version, the tvm-dsprune and TVM versions, the target, the input
and output names/shapes/dtypes and the compile report. Loading checks the format and the TVM
version first: a package from another TVM is refused with one message, not a loader crash.
"""
from __future__ import annotations

import json
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


FORMS = {".tar": "package", ".so": "library"}


def form_of(path) -> str:
    """"package" for NAME.tar (library and meta.json: what `run` loads), "library" for NAME.so
    (the bare shared library, as tvmc exported it); InputError for any other name."""
    form = FORMS.get(Path(path).suffix.lower())
    if form is None:
        raise InputError(f"output {path}: name it NAME.tar (the package: library and meta.json, what "
                         "`run` loads) or NAME.so (the bare shared library)")
    return form


def write(executable, path, meta: dict, target, cross_compiler: str | None = None,
          form: str | None = None) -> Path:
    """Export `executable` to `path` (all or nothing): a package (the library packed with
    meta.json) or, for form "library" (default: from the suffix, see form_of), the bare shared
    library. Code for another architecture (target.is_cross) is linked by `cross_compiler`, or
    stored in the package as object files that the board links when it loads them."""
    path = Path(path)
    form = form or form_of(path)
    meta = dict(meta, format=FORMAT, format_version=FORMAT_VERSION, tvm_dsprune_version=__version__,
                tvm_version=tvm_version())
    cross = target.is_cross and cross_compiler is None
    with tempfile.TemporaryDirectory() as tmp, output_set(path) as out:
        tmp = Path(tmp)
        lib_name = "lib.tar" if cross and form == "package" else "lib.so"  # lib.tar: the board links it
        _export(executable, tmp / lib_name, cross_compiler)
        if form == "library":
            shutil.copyfile(tmp / lib_name, out.path(path))
            return path
        meta["library"] = lib_name
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
        with tarfile.open(out.path(path), "w") as tar:
            tar.add(tmp / "meta.json", arcname="meta.json")
            tar.add(tmp / lib_name, arcname=lib_name)
    return path


def _export(executable, dest: Path, cross_compiler: str | None) -> None:
    """export_library, a linker's failure as one CompileError."""
    if dest.suffix == ".tar":
        executable.export_library(str(dest))
        return
    kwargs = {}
    if cross_compiler:
        from tvm.support import cc

        kwargs["fcompile"] = cc.cross_compiler(cross_compiler)
    try:
        executable.export_library(str(dest), **kwargs)
    except Exception as err:  # noqa: BLE001 - the linker's error comes back as any exception
        reraise_if_interrupt(err)
        text = str(err).strip()
        raise CompileError(f"linking the library with {cross_compiler or 'the host C++ compiler'} failed: "
                           f"{_last_line(text) if text else type(err).__name__}") from None


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    errors = [ln for ln in lines if "error" in ln.lower()]
    return (errors or lines)[-1]


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
        for name in ("meta.json", meta["library"]):
            member = tar.getmember(name)
            if not member.isfile() or "/" in name or ".." in name:
                raise InputError(f"package {path}: unexpected member {name!r}")
            tar.extract(member, folder, filter="data")
    return Package(Path(path), meta, folder)
