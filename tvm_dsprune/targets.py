"""One home for a target: every form it takes, and every question asked of it.

A target is given as a short name from the schedule collection (`llvm`, `cuda`, `mali`, ...), a
TVM target JSON dict (or its JSON text), or a TVM target string as TVM users type it
(`'llvm -mcpu=skylake'`, turned into the JSON form TVM 0.27 takes). `resolve` makes a `Target` of
any of them, and the `Target` answers everything else: the collection's entry (tile geometry,
cost model, schedule rules), the family, the runtime device, the host, whether the code is for
another machine, and the `tvm.target.Target` / JSON dict forms.

A new target family (Vulkan, ROCm, ...) is a row in the tables below and a folder in
`schedules/`. Importing this module imports no TVM: the mask step reads the geometry from here.
"""
from __future__ import annotations

import json
import os
import platform
import shlex
from dataclasses import dataclass, field

from . import schedules
from .errors import InputError

# TVM target kind -> schedule family; family -> runtime device and the collection entry that
# stands for the whole family (used for a raw TVM target dict of that kind).
KIND_FAMILY = {"llvm": "cpu", "c": "cpu", "cuda": "cuda", "nvptx": "cuda", "opencl": "opencl"}
FAMILY_DEVICE = {"cpu": "cpu", "cuda": "cuda", "opencl": "opencl"}
FAMILY_DEFAULT = {"cpu": "llvm", "cuda": "cuda", "opencl": "mali"}
# keys of a TVM target string whose value is a list (`-mattr=+neon,+dotprod`)
LIST_KEYS = {"mattr", "keys", "libs", "cl-opt"}
# NVIDIA architectures a CUDA package is built for (nvcc 13's list: Turing and newer). The device
# code holds machine code for the arch and PTX of its compute capability, so it also runs on
# every newer GPU (same major: the machine code; a newer major: the driver JIT-compiles the PTX).
CUDA_ARCHS = ("sm_75", "sm_80", "sm_86", "sm_87", "sm_88", "sm_89", "sm_90", "sm_100", "sm_103",
              "sm_110", "sm_120", "sm_121")


def cpu_count() -> int:
    """The CPUs this process may run on (not the machine's: containers and taskset limit it)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def machine_triple_arch() -> str:
    """This machine's architecture as an LLVM triple starts (x86_64, aarch64, ...)."""
    arch = platform.machine().lower()
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(arch, arch)


@dataclass(frozen=True)
class Target:
    """A resolved target. `spec` is the schedule collection's entry; `target` the TVM target as a
    JSON dict; `host` the llvm host of a device target (None for CPU targets)."""

    spec: schedules.TargetSpec
    target: dict
    host: dict | None = None
    name: str = ""
    _cache: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def family(self) -> str:
        return self.spec.family

    @property
    def device(self) -> str:
        """The runtime device a package for this target runs on: cpu, cuda or opencl."""
        return FAMILY_DEVICE[self.family]

    @property
    def is_gpu(self) -> bool:
        return self.family != "cpu"

    @property
    def geometry(self):
        return self.spec.geometry

    @property
    def cost(self):
        return self.spec.cost

    @property
    def code_target(self) -> dict:
        """The llvm target the host code (the whole code, on a CPU) is compiled for."""
        return self.host if self.is_gpu else self.target

    @property
    def code_arch(self) -> str:
        triple = str(self.code_target.get("mtriple", "")) if self.code_target else ""
        return triple.split("-")[0] if triple else machine_triple_arch()

    @property
    def is_cross(self) -> bool:
        """True when the code runs on another architecture than this machine (a board)."""
        return self.code_arch != machine_triple_arch()

    @property
    def cuda_arch(self) -> str:
        """The NVIDIA arch the device code is built for (sm_80); InputError when a CUDA target
        names none."""
        arch = self.target.get("arch")
        if self.family != "cuda":
            raise InputError(f"target {self.name} is not a CUDA target")
        if not arch:
            raise InputError(f"CUDA target {self.name} names no arch: add \"arch\", one of {', '.join(CUDA_ARCHS)}")
        return arch

    def rules(self) -> list:
        return list(self.spec.rules()) if self.spec.rules is not None else []

    def tvm(self):
        """The tvm.target.Target. A CPU target without -mcpu / -mtriple means this machine: its
        CPU (vector width, FMA) and the CPUs this process may use are filled in."""
        if "tvm" not in self._cache:
            import tvm

            target = dict(self.target)
            if target["kind"] == "llvm" and "mtriple" not in target:
                cpu = host_cpu()
                if cpu and "mcpu" not in target:
                    target["mcpu"] = cpu
            if target["kind"] == "llvm":
                target.setdefault("num-cores", cpu_count())
            try:
                self._cache["tvm"] = (tvm.target.Target(target, host=self.host) if self.host is not None
                                      else tvm.target.Target(target))
            except Exception as err:  # noqa: BLE001 - TVM raises ValueError/TVMError/KeyError for bad targets
                raise InputError(f"target {json.dumps(self.target)}"
                                 + (f" with host {json.dumps(self.host)}" if self.host else "")
                                 + f" is not a valid TVM target: {_first_line(err)}") from None
        return self._cache["tvm"]

    def as_dict(self) -> dict:
        """The TVM target as TVM exports it (every attribute), a JSON-able dict."""
        return export_dict(self.tvm())

    def host_dict(self) -> dict:
        return dict(self.host) if self.host else {}


def _first_line(err: Exception) -> str:
    text = str(err).strip().splitlines()
    return next((ln.strip() for ln in reversed(text) if ln.strip()), type(err).__name__)


def host_cpu() -> str | None:
    """LLVM's name for this machine's CPU (e.g. znver4), or None."""
    import tvm

    f = tvm.get_global_func("target.llvm_get_system_cpu", allow_missing=True)
    name = f() if f is not None else None
    return name if name and name != "generic" else None


def export_dict(target) -> dict:
    """A tvm.target.Target as a plain JSON-able dict (TVM 0.27: Target.export())."""
    def plain(v):
        if isinstance(v, (str, int, float, bool)) or v is None:
            return v
        if hasattr(v, "items"):
            return {str(k): plain(x) for k, x in v.items()}
        if hasattr(v, "__iter__"):
            return [plain(x) for x in v]
        return str(v)

    out = plain(target.export())
    json.dumps(out)
    return out


def parse_target_string(text: str) -> dict:
    """'llvm -mcpu=skylake -mattr=+avx2,+fma' -> {"kind": "llvm", "mcpu": "skylake", "mattr": [...]}
    (the CLI form TVM 0.27 no longer accepts)."""
    try:
        words = shlex.split(text)
    except ValueError as err:
        raise InputError(f"target {text!r}: {err}") from None
    out: dict = {"kind": words[0]}
    for word in words[1:]:
        if not word.startswith("-") or "=" not in word:
            raise InputError(f"target {text!r}: {word!r} is not -key=value")
        key, value = word.lstrip("-").split("=", 1)
        if key in LIST_KEYS:
            out[key] = [v for v in value.split(",") if v]
        elif value.lstrip("-").isdigit():
            out[key] = int(value)
        else:
            out[key] = value
    return out


def _as_dict(value, what: str) -> dict | None:
    """A target given as a dict, JSON text or TVM string -> dict; None for a bare name."""
    if isinstance(value, dict):
        return dict(value)
    if not isinstance(value, str):
        raise InputError(f"{what} must be a name or a JSON dict, got {type(value).__name__}")
    text = value.strip()
    if text.startswith("{"):
        try:
            out = json.loads(text)
        except json.JSONDecodeError as err:
            raise InputError(f"{what} {value!r} is not valid JSON: {err}") from None
        if not isinstance(out, dict):
            raise InputError(f"{what} {value!r}: expected a JSON object")
        return out
    if " " in text:                       # 'llvm -mcpu=skylake': TVM's old CLI form
        return parse_target_string(text)
    return None


def resolve(target, host=None) -> Target:
    """A Target for a name (`cuda`, `mali`, `llvm`, ...), a dict, JSON text, or a TVM target
    string. `host`: the llvm host of a GPU target (name, dict or JSON); default: the
    collection entry's board host, else this machine."""
    if isinstance(target, Target):
        return target if host is None else _with_host(target, host)
    if isinstance(target, schedules.TargetSpec):
        return _make(target, dict(target.target), target.name, host)
    raw = _as_dict(target, "target")
    if raw is not None:
        kind = raw.get("kind")
        if kind not in KIND_FAMILY:
            raise InputError(f"target kind {kind!r} has no schedules here; kinds with schedules: "
                             f"{', '.join(sorted(KIND_FAMILY))}")
        spec = schedules.lookup(FAMILY_DEFAULT[KIND_FAMILY[kind]])
        return _make(spec, raw, json.dumps(raw, sort_keys=True), host)
    spec = schedules.lookup(target.strip())
    if spec is None:
        raise InputError(f"unknown target {target!r}; known targets: {', '.join(schedules.names())} "
                         "(or a TVM target JSON dict such as '{\"kind\": \"cuda\", \"arch\": \"sm_87\"}')")
    return _make(spec, dict(spec.target), spec.name, host)


def _with_host(t: Target, host) -> Target:
    return _make(t.spec, dict(t.target), t.name, host)


def check_cuda_arch(arch) -> None:
    """InputError unless `arch` is one of CUDA_ARCHS."""
    if arch not in CUDA_ARCHS:
        raise InputError(f"CUDA arch {arch!r} is not supported; supported archs: {', '.join(CUDA_ARCHS)}")


def compute_capability(arch: str) -> tuple[int, int]:
    """sm_80 -> (8, 0); sm_121 -> (12, 1)."""
    digits = arch.split("_", 1)[1]
    return int(digits[:-1]), int(digits[-1])


def _make(spec, target: dict, name: str, host) -> Target:
    family = spec.family
    if family == "cuda" and "arch" in target:
        check_cuda_arch(target["arch"])
    if family == "cpu":
        if host is not None:
            raise InputError(f"--target-host applies to GPU targets; {name} runs its code on the CPU itself")
        return Target(spec, target, None, name)
    if host is None:
        host_d = dict(spec.host) if spec.host else {"kind": "llvm"}
    else:
        host_d = _as_dict(host, "target host") or {"kind": str(host).strip()}
        if host_d.get("kind") != "llvm":
            raise InputError(f"target host {host!r}: the host of a GPU target is an llvm CPU target "
                             "(llvm, or a JSON dict such as '{\"kind\": \"llvm\", \"mtriple\": "
                             "\"aarch64-linux-gnu\"}')")
    return Target(spec, target, host_d, name)


def device_of_kind(kind: str) -> str | None:
    """The runtime device of a TVM target kind (a package's meta.json names the kind)."""
    family = KIND_FAMILY.get(kind)
    return FAMILY_DEVICE.get(family) if family else None
