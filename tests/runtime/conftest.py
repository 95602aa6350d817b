"""RPC fixtures: a tracker, TVM's RPC server on this machine, a PoCL server, and an emulated
aarch64 board, all on 127.0.0.1, each started by the tests that use it and stopped after them.

The board is TVM's own RPC server running under qemu-user on Debian's arm64 Python with TVM's
aarch64 wheels (tools/emulated_board.sh builds it once into a cache folder outside the
repository). Importing TVM under emulation takes ~12 s or more, so one board serves the whole
session. It is skipped only when its tools are absent (qemu-user, the aarch64 cross compiler or
Debian's arm64 package lists); .ci/run installs them.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _top_level_conftest():
    spec = importlib.util.spec_from_file_location("dsprune_top_conftest", REPO / "tests" / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# The test modules of this folder import helpers with `from conftest import ...`, which finds this
# file before the top-level one: its helpers are bound here too.
_top = _top_level_conftest()
run_ort, console_script, onnx_weights = _top.run_ort, _top.console_script, _top.onnx_weights
depthwise_relu6_onnx, load_tool = _top.depthwise_relu6_onnx, _top.load_tool

BOARD_SCRIPT = REPO / "tools" / "emulated_board.sh"
BOARD_KEY = "aarch64-board"
BOARD_START_S = 600          # the first start on a loaded 2-core machine imports TVM under qemu


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Background:
    """A process in its own process group, its output in a log; stop() ends the whole group."""

    def __init__(self, cmd: list[str], log: Path, env: dict | None = None):
        self.log = log
        self.cmd = cmd
        with open(log, "w") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True, env=env, cwd=log.parent)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
            except ProcessLookupError:
                pass

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""


def wait_until(check, timeout: float, proc: Background, what: str):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if not proc.alive():
            raise RuntimeError(f"{what} exited early:\n{proc.tail()}")
        try:
            value = check()
            if value:
                return value
        except Exception:  # noqa: BLE001 - not up yet
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{what} did not come up in {timeout:.0f} s:\n{proc.tail()}")


def start_tracker(folder: Path) -> tuple[Background, str]:
    port = free_port()
    proc = Background([sys.executable, "-m", "tvm.exec.rpc_tracker", "--host", "127.0.0.1", "--port", str(port),
                       "--port-end", str(port + 1)], folder / f"tracker-{port}.log")

    def up():
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True

    wait_until(up, 120, proc, "RPC tracker")
    return proc, f"127.0.0.1:{port}"


def wait_registered(tracker: str, key: str, proc: Background, timeout: float = 180) -> None:
    from tvm_dsprune.runtime.rpc import tracker_summary

    wait_until(lambda: tracker_summary(tracker)["queue_info"].get(key, {}).get("free", 0) > 0, timeout, proc,
               f"RPC server under key {key!r}")


def start_server(folder: Path, tracker: str | None, key: str, module: str = "tvm.exec.rpc_server") -> Background:
    """TVM's RPC server (or the PoCL server) for this machine, registered under `key`."""
    port = free_port()
    cmd = [sys.executable, "-m", module, "--host", "127.0.0.1", "--port", str(port), "--port-end", str(port + 1)]
    if tracker:
        cmd += ["--tracker", tracker, "--key", key]
    proc = Background(cmd, folder / f"server-{key}-{port}.log")
    proc.port = port
    if tracker:
        wait_registered(tracker, key, proc)
    else:
        wait_until(lambda: "bind to" in proc.tail() or "server on" in proc.tail(), 180, proc, "RPC server")
    return proc


@pytest.fixture(scope="session")
def rpc_folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("rpc")


@pytest.fixture(scope="session")
def tracker(rpc_folder):
    """'127.0.0.1:PORT' of an RPC tracker shared by the session's servers."""
    proc, addr = start_tracker(rpc_folder)
    yield addr
    proc.stop()


@pytest.fixture(scope="session")
def loopback_server(rpc_folder, tracker):
    """TVM's stock RPC server on this machine (x86), registered under key 'loopback-cpu'."""
    proc = start_server(rpc_folder, tracker, "loopback-cpu")
    yield "loopback-cpu"
    proc.stop()


@pytest.fixture(scope="session")
def pocl_server(rpc_folder, tracker):
    """The PoCL RPC server (runtime/pocl_rpc.py) on this machine, registered under key 'pocl'."""
    pytest.importorskip("pyopencl")
    proc = start_server(rpc_folder, tracker, "pocl", module="tvm_dsprune.runtime.pocl_rpc")
    yield "pocl"
    proc.stop()


@dataclass
class Board:
    tracker: str
    key: str
    folder: Path
    proc: Background


def board_folder() -> Path:
    if os.environ.get("DSPRUNE_BOARD_DIR"):
        return Path(os.environ["DSPRUNE_BOARD_DIR"])
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "tvm-dsprune" / "aarch64-board"


@pytest.fixture(scope="session")
def aarch64_board(rpc_folder, tracker):
    """An emulated aarch64 board: TVM's RPC server under qemu-user, registered under BOARD_KEY."""
    missing = [t for t in ("qemu-aarch64", "aarch64-linux-gnu-g++", "dpkg", "apt-get") if shutil.which(t) is None]
    if missing:
        pytest.skip(f"the emulated aarch64 board needs {', '.join(missing)} "
                    f"(`{BOARD_SCRIPT.relative_to(REPO)} install` as root installs them)")
    folder = board_folder()
    env = dict(os.environ, DSPRUNE_BOARD_DIR=str(folder), PYTHON=sys.executable)
    if not (folder / ".ready").exists():
        prep = subprocess.run(["bash", str(BOARD_SCRIPT), "prepare", str(folder)], capture_output=True, text=True,
                              env=env, timeout=1800)
        if prep.returncode == 3:          # Debian's arm64 lists are absent: the install step was not run
            pytest.skip(f"the emulated aarch64 board cannot be built: {prep.stderr.strip()}")
        assert prep.returncode == 0, prep.stderr[-2000:]
    port = free_port()
    proc = Background(["bash", str(BOARD_SCRIPT), "serve", str(folder), "--host", "127.0.0.1", "--port", str(port),
                       "--port-end", str(port + 1), "--tracker", tracker, "--key", BOARD_KEY],
                      rpc_folder / "board.log", env=env)
    try:
        wait_registered(tracker, BOARD_KEY, proc, timeout=BOARD_START_S)
    except BaseException:
        proc.stop()
        raise
    yield Board(tracker, BOARD_KEY, folder, proc)
    proc.stop()
