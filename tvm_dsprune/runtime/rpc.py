"""A board reached over TVM RPC, as a Session: through a tracker and a key, or host and port.

This is how TVM users reach phones and boards: TVM's RPC server runs on the board, registered
with a tracker under a key (`rk3399`, `mali-g78`, ...); a client asks the tracker for a server
under that key, uploads a library, loads it there and runs it on the board's device. Everything
that can go wrong on the way is one RemoteError naming what to check: the tracker is down, no
server is registered under the key, every server under it stayed busy, the connection was lost
in the middle of a run, the session ran past its timeout, the board cannot load the library.

A busy key is waited for in the tracker's queue (at `priority`) up to `wait` seconds; a server
that the tracker hands out but that does not answer (it stopped after registering) is retried
`retries` times.
"""
from __future__ import annotations

import contextlib
import gc
import hashlib
import socket
import struct
import threading
import time
from pathlib import Path

from ..errors import InputError, RemoteError
from .session import Session

CONNECT_TIMEOUT_S = 10.0
TRACKER_HINT = "start one with `python -m tvm.exec.rpc_tracker --host 0.0.0.0 --port {port}`, or check --rpc-tracker"
SERVER_HINT = ("start TVM's RPC server on the board: `python -m tvm.exec.rpc_server --tracker {tracker} "
               "--key {key}`, or check --rpc-key")


def parse_address(text: str, flag: str) -> tuple[str, int]:
    """'HOST:PORT' -> (host, port); InputError naming `flag` otherwise."""
    host, sep, port = str(text).strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InputError(f"{flag} {text!r}: expected HOST:PORT, e.g. 127.0.0.1:9190")
    return host, int(port)


def _first_line(err: BaseException) -> str:
    lines = [ln.strip() for ln in str(err).strip().splitlines() if ln.strip()]
    useful = [ln for ln in lines if not ln.startswith(("File ", "Traceback", "^", "at "))]
    return (useful or lines or [type(err).__name__])[-1]


class RPCSession(Session):
    """A session on a remote TVM RPC server (a board). Create it with `connect`."""

    def __init__(self, remote, name: str, session_timeout: float = 0):
        self.remote = remote
        self.name = name
        self.session_timeout = session_timeout
        self._arch: str | None | bool = False          # False: not asked yet
        self._uploaded: dict[str, str] = {}

    # -- the Session interface ------------------------------------------------------------------
    def load_library(self, path: str):
        """Upload the library (under a name of its own: two models of one session must not share
        a file the board's loader caches) and load it there. Object files (.tar) are linked by
        the board when it loads them."""
        path = Path(path)
        digest = hashlib.sha1(path.read_bytes()).hexdigest()[:12]
        remote_name = f"dsprune-{digest}{path.suffix}"
        if remote_name not in self._uploaded:
            with self.step(f"uploading {path.name}"):
                self.remote.upload(str(path), remote_name)
            self._uploaded[remote_name] = str(path)
        try:
            return self.remote.load_module(remote_name)
        except Exception as err:  # noqa: BLE001 - the board's loader reports through the RPC error
            if self._lost(err):
                raise self.failure("loading the library", err) from None
            hint = (" (object files are linked by the board's g++ when it loads them: install one there, "
                    "or compile with --cross-compiler)" if path.suffix == ".tar" else "")
            raise RemoteError(f"{self.name} cannot load the library: {_first_line(err)}{hint}") from None

    def device(self, kind: str):
        with self.step(f"opening its {kind} device"):
            return self.remote.device(kind, 0)

    def arch(self) -> str | None:
        """The board's CPU architecture, asked of its TVM (None when its TVM cannot say: a
        runtime-only build without LLVM)."""
        if self._arch is False:
            self._arch = None
            with self.step("asking its architecture"):
                try:
                    triple = self.remote.get_function("target.llvm_get_system_triple")()
                except Exception as err:  # noqa: BLE001 - a missing function is not a lost connection
                    if self._lost(err):
                        raise
                    triple = ""
            if triple:
                arch = str(triple).split("-")[0].lower()
                self._arch = {"arm64": "aarch64", "amd64": "x86_64"}.get(arch, arch)
        return self._arch or None

    def wrong_arch_hint(self, arch: str) -> str:
        return "compile it for this board (e.g. --target aarch64-cpu or mali for a 64-bit Arm board)"

    def get_function(self, name: str):
        """A function registered on the server, or None."""
        with self.step(f"looking up {name}"):
            try:
                return self.remote.get_function(name)
            except Exception as err:  # noqa: BLE001
                if self._lost(err):
                    raise
                return None

    @contextlib.contextmanager
    def step(self, what: str):
        try:
            yield
        except RemoteError:
            raise
        except Exception as err:  # noqa: BLE001 - RPC failures arrive as TVM errors of any type
            raise self.failure(what, err) from None

    def failure(self, what: str, err: BaseException) -> RemoteError:
        text = str(err)
        if "RPCSessionTimeoutError" in text or "session has expired" in text:
            return RemoteError(f"the session on {self.name} ran past its timeout of {self.session_timeout:g} s "
                               f"while {what}: give it more time (--rpc-session-timeout)")
        if self._lost(err):
            return RemoteError(f"lost the connection to {self.name} while {what}: the RPC server stopped "
                               f"or the network dropped ({_first_line(err)})")
        return RemoteError(f"{what} on {self.name} failed: {_first_line(err)}")

    @staticmethod
    def _lost(err: BaseException) -> bool:
        text = str(err)
        return any(m in text for m in ("RPCSessionTimeoutError", "session has expired", "kShutdown", "Socket",
                                       "socket", "closed", "Connection reset", "Broken pipe", "EOF"))

    def close(self) -> None:
        """End the session: the server is free for the next client."""
        self.remote = None
        gc.collect()


def connect(tracker: str | None = None, key: str | None = None, host: str | None = None,
            port: int | None = None, *, priority: int = 1, session_timeout: float = 0, wait: float = 60,
            retries: int = 2) -> RPCSession:
    """A session on a board: through a tracker ('HOST:PORT') and a key, or directly host + port.
    session_timeout: seconds the server gives the session (0: no limit); wait: seconds to wait
    for a busy key (or a busy server); retries: servers the tracker hands out that do not answer
    are asked for again this many times."""
    if session_timeout < 0 or wait <= 0 or retries < 0:
        raise InputError("--rpc-session-timeout must be >= 0, --rpc-wait > 0 and retries >= 0")
    if tracker is not None:
        if host is not None or port is not None:
            raise InputError("give --rpc-tracker with --rpc-key, or --rpc-host with --rpc-port, not both")
        addr = parse_address(tracker, "--rpc-tracker")
        if not key:
            raise InputError("--rpc-tracker needs --rpc-key (the key the board's RPC server registered)")
        return _through_tracker(addr, key, priority, session_timeout, wait, retries)
    if host is None or port is None:
        raise InputError("give --rpc-tracker HOST:PORT with --rpc-key KEY, or --rpc-host HOST with --rpc-port PORT")
    if key:
        raise InputError("--rpc-key goes with --rpc-tracker; a server reached by --rpc-host/--rpc-port needs none")
    return _direct(host, int(port), session_timeout, wait)


def _open(addr: tuple[str, int], what: str, hint: str) -> socket.socket:
    try:
        return socket.create_connection(addr, timeout=CONNECT_TIMEOUT_S)
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise RemoteError(f"{what} {addr[0]}:{addr[1]} is not reachable ({reason}): {hint}") from None


def _tracker_socket(addr: tuple[str, int]) -> socket.socket:
    from tvm.rpc import base

    sock = _open(addr, "RPC tracker", TRACKER_HINT.format(port=addr[1]))
    try:
        sock.sendall(struct.pack("<i", base.RPC_TRACKER_MAGIC))
        magic = struct.unpack("<i", base.recvall(sock, 4))[0]
    except (OSError, RuntimeError, struct.error):
        magic = None
    if magic != base.RPC_TRACKER_MAGIC:
        sock.close()
        raise RemoteError(f"{addr[0]}:{addr[1]} is not an RPC tracker (--rpc-tracker)")
    return sock


def tracker_summary(tracker: str) -> dict:
    """The tracker's summary: {"queue_info": {key: {"free", "pending"}}, "server_info": [...]}."""
    from tvm.rpc import base

    addr = parse_address(tracker, "--rpc-tracker")
    sock = _tracker_socket(addr)
    try:
        base.sendjson(sock, [base.TrackerCode.SUMMARY])
        value = base.recvjson(sock)
    except (OSError, RuntimeError) as err:
        raise RemoteError(f"RPC tracker {tracker} did not answer: {err}") from None
    finally:
        sock.close()
    return value[1]


def servers_under(summary: dict, key: str) -> int:
    return sum(1 for s in summary.get("server_info", []) if s.get("key") == f"server:{key}")


def _through_tracker(addr, key, priority, session_timeout, wait, retries) -> RPCSession:
    from tvm import rpc
    from tvm.rpc import base

    where = f"{addr[0]}:{addr[1]}"
    name = f"the board under key {key!r} (tracker {where})"
    deadline = time.monotonic() + wait
    last = None
    for _ in range(retries + 1):
        summary = tracker_summary(where)
        if not servers_under(summary, key):
            keys = sorted({s.get("key", "").split(":", 1)[-1] for s in summary.get("server_info", [])} - {""})
            raise RemoteError(f"no RPC server is registered under key {key!r} at tracker {where} "
                              f"(keys there: {', '.join(keys) or 'none'}): "
                              + SERVER_HINT.format(tracker=where, key=key))
        sock = _tracker_socket(addr)
        try:
            sock.settimeout(max(0.1, deadline - time.monotonic()))
            base.sendjson(sock, [base.TrackerCode.REQUEST, key, "", priority])
            value = base.recvjson(sock)
        except (socket.timeout, TimeoutError):
            n = servers_under(tracker_summary(where), key)
            raise RemoteError(f"all {n} RPC server(s) under key {key!r} at tracker {where} stayed busy for "
                              f"{wait:g} s: wait longer (--rpc-wait) or free the board") from None
        except (OSError, RuntimeError) as err:
            raise RemoteError(f"RPC tracker {where} dropped the request for key {key!r}: {err}") from None
        finally:
            sock.close()
        if value[0] != base.TrackerCode.SUCCESS:
            raise RemoteError(f"RPC tracker {where} refused the request for key {key!r}: {value}")
        url, port, matchkey = value[1]
        try:
            remote = rpc.connect(url, port, matchkey, session_timeout)
            return RPCSession(remote, name, session_timeout)
        except Exception as err:  # noqa: BLE001 - a stale server: ask the tracker again
            last = err
            time.sleep(1.0)
    raise RemoteError(f"the RPC server(s) under key {key!r} at tracker {where} did not answer "
                      f"after {retries + 1} tries: {_first_line(last)}")


def _direct(host: str, port: int, session_timeout: float, wait: float) -> RPCSession:
    """Connect to a server directly. TVM's server serves one client at a time and the handshake
    waits for it: a busy server is waited for up to `wait` seconds in a helper thread."""
    from tvm import rpc

    _open((host, port), "RPC server", "start TVM's RPC server there (`python -m tvm.exec.rpc_server "
          f"--host 0.0.0.0 --port {port}`), or check --rpc-host/--rpc-port").close()
    result: dict = {}

    def attempt():
        try:
            result["remote"] = rpc.connect(host, port, "", session_timeout)
        except Exception as err:  # noqa: BLE001
            result["error"] = err

    thread = threading.Thread(target=attempt, daemon=True, name="rpc-connect")
    thread.start()
    thread.join(wait)
    name = f"the RPC server at {host}:{port}"
    if thread.is_alive():
        raise RemoteError(f"{name} stayed busy with another client for {wait:g} s: wait longer (--rpc-wait)")
    if "error" in result:
        raise RemoteError(f"{name} refused the session: {_first_line(result['error'])}")
    return RPCSession(result["remote"], name, session_timeout)
