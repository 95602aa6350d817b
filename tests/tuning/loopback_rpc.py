"""A TVM RPC tracker and servers on 127.0.0.1 for the tests (TVM's own `tvm.exec.rpc_tracker` /
`rpc_server`, each in its own process group so that it can be stopped, or killed, whole)."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(args: list[str], log) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", *args], stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)


def stop(proc: subprocess.Popen, sig=signal.SIGTERM) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def summary(port: int) -> dict:
    """The tracker's summary (TVM's tracker protocol, one bounded connection)."""
    from tvm.rpc import base

    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        sock.sendall(base.struct.pack("<i", base.RPC_TRACKER_MAGIC))
        if base.struct.unpack("<i", base.recvall(sock, 4))[0] != base.RPC_TRACKER_MAGIC:
            raise RuntimeError("not a TVM RPC tracker")
        base.sendjson(sock, [base.TrackerCode.SUMMARY])
        return base.recvjson(sock)[1]
    finally:
        sock.close()


@dataclass
class Loopback:
    port: int
    key: str
    tracker: subprocess.Popen
    servers: list[subprocess.Popen] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)          # each server's output

    def sessions(self, i: int) -> int:
        """Modules server `i` has loaded (one per measurement session)."""
        with open(self.logs[i]) as f:
            return sum(1 for line in f if "load_module" in line)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def registered(self) -> int:
        try:
            info = summary(self.port)["server_info"]
        except (OSError, RuntimeError, ValueError):
            return 0
        return sum(1 for s in info if s["key"].split(":", 1)[-1] == self.key)


@contextmanager
def tracker_with_servers(count: int, key: str, folder, wait: float = 300.0):
    """A tracker and `count` servers under `key`, all registered, stopped on exit."""
    port = free_port()
    logs = open(os.path.join(folder, "rpc.log"), "w")
    tracker = _start(["tvm.exec.rpc_tracker", "--host", "127.0.0.1", "--port", str(port),
                      "--port-end", str(port + 1)], logs)
    lb = Loopback(port, key, tracker)
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=2).close()
                break
            except OSError:
                if time.monotonic() > deadline or tracker.poll() is not None:
                    raise RuntimeError(f"the RPC tracker did not start: see {logs.name}")
                time.sleep(1)
        for i in range(count):
            sp = free_port()
            lb.logs.append(os.path.join(folder, f"rpc_server{i}.log"))
            server_log = open(lb.logs[-1], "w")
            lb.servers.append(_start(["tvm.exec.rpc_server", "--host", "127.0.0.1", "--port", str(sp),
                                      "--port-end", str(sp + 1), "--tracker", lb.address, "--key", key],
                                     server_log))
            server_log.close()                  # the server holds its own copy
        while lb.registered() < count:
            if time.monotonic() > deadline or any(s.poll() is not None for s in lb.servers):
                raise RuntimeError(f"the RPC servers did not register: see {', '.join(lb.logs)}")
            time.sleep(1)
        yield lb
    finally:
        for proc in lb.servers + [tracker]:
            stop(proc)
        logs.close()
