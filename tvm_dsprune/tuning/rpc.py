"""Measuring on the boards of a TVM RPC tracker (MetaSchedule's RPCRunner), as tvmc users do.

Before any work starts the tracker is asked, within a bounded time, whether it is there and has
servers under the key: a tracker that is down, or a key no server has, is one clear message.
Builds stay local and parallel; each measurement takes a session from the tracker. A measurement
that fails on the RPC side (a server that went away, a session cut) is measured again through
the tracker, which hands it to a server still there, so losing a board loses no trial. When no
board is left, the run stops with a message and keeps what it measured.
"""
from __future__ import annotations

import socket
import threading
from dataclasses import dataclass

from tvm.ir.utils import derived_object
from tvm.s_tir import meta_schedule as ms
from tvm.s_tir.meta_schedule.runner import PyRunner, PyRunnerFuture

from ..errors import InputError

PROBE_SECONDS = 10.0


@dataclass(frozen=True)
class Tracker:
    host: str
    port: int
    key: str

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


def parse_tracker(text: str, key: str | None) -> Tracker:
    """'HOST:PORT' and a key -> Tracker (both are needed)."""
    host, sep, port = str(text).strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InputError(f"--rpc-tracker {text!r}: write HOST:PORT, e.g. 127.0.0.1:9190")
    if not key:
        raise InputError("--rpc-tracker needs --rpc-key: the key the boards registered with")
    return Tracker(host, int(port), key)


def _bounded(what: str, tracker: Tracker, fn, seconds: float):
    """fn() in a thread, given at most `seconds` (TVM's tracker client retries for a minute)."""
    box: dict = {}

    def run():
        try:
            box["value"] = fn()
        except Exception as err:  # noqa: BLE001 - reported below as one line
            box["error"] = err

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)
    if t.is_alive():
        raise InputError(f"RPC tracker {tracker}: no answer to {what} within {seconds:.0f} s "
                         "(is it a TVM RPC tracker?)")
    if "error" in box:
        err = box["error"]
        raise InputError(f"RPC tracker {tracker}: {what} failed: {type(err).__name__}: "
                         f"{str(err).strip().splitlines()[-1] if str(err).strip() else ''}")
    return box.get("value")


def servers(tracker: Tracker, seconds: float = PROBE_SECONDS) -> int:
    """The number of servers registered under the key; an InputError when the tracker cannot be
    reached or no server has the key."""
    from tvm import rpc

    try:
        socket.create_connection((tracker.host, tracker.port), timeout=seconds).close()
    except OSError as err:
        raise InputError(f"cannot reach the RPC tracker at {tracker}: {err.strerror or err} "
                         "(start one with `python -m tvm.exec.rpc_tracker --host HOST --port PORT`)") from None
    summary = _bounded("a summary request", tracker,
                       lambda: rpc.connect_tracker(tracker.host, tracker.port).summary(), seconds)
    keys = [str(s.get("key", "")).split(":", 1)[-1] for s in (summary or {}).get("server_info", [])]
    count = keys.count(tracker.key)
    if count == 0:
        raise InputError(f"no RPC server is registered at the tracker {tracker} with key {tracker.key!r}"
                         + (f" (keys there: {', '.join(sorted(set(keys)))})" if keys else " (no servers at all)"))
    return count


class ServersLost(RuntimeError):
    """No server with the key is left at the tracker: the run cannot go on (its message is for
    the user)."""


def _as_result(future):
    from tvm.s_tir.meta_schedule.runner import RunnerResult

    from .measure import fastest

    try:
        return RunnerResult(fastest(future.result()), None)
    except Exception as err:  # noqa: BLE001 - a failed measurement is a result, as in RPCRunner
        return RunnerResult(None, f"RPC measurement failed: {type(err).__name__}: {err}")


@derived_object
class _Measurement(PyRunnerFuture):
    def __init__(self, runner, runner_input, arguments):
        super().__init__()
        self.runner, self.input, self.arguments = runner, runner_input, arguments
        self.tries = 0
        self.future = runner.submit(runner_input, arguments)

    def done(self) -> bool:
        return self.future.done()

    def result(self):
        while True:
            self.runner.wait(self.future)
            res = _as_result(self.future)
            if res.error_msg is None or self.tries >= self.runner.retries:
                return res
            self.tries += 1
            self.runner.retried += 1
            self.future = self.runner.submit(self.input, self.arguments)


@derived_object
class TrackerRunner(PyRunner):
    """Measures through the tracker as MetaSchedule's RPCRunner does (its worker function:
    session, upload, allocate, time, clean up), `workers` at once. A measurement that fails is
    measured again (up to `retries` times) on whichever server the tracker hands out, with the
    arguments of its own task. When no server with the key is left, waiting ends with
    ServersLost instead of forever."""

    def __init__(self, tracker: Tracker, arguments, workers: int, retries: int = 2,
                 session_timeout: int = 60, lost_after: float = 120.0):
        super().__init__()
        from tvm.support.popen_pool import PopenPoolExecutor

        from .measure import evaluator

        self.tracker = tracker
        self.arguments = arguments
        self.retries = retries
        self.retried = 0
        self.lost_after = lost_after
        self.config = ms.runner.RPCConfig(tracker_host=tracker.host, tracker_port=tracker.port,
                                          tracker_key=tracker.key, session_priority=1,
                                          session_timeout_sec=session_timeout)
        self.evaluator = evaluator()
        self.pool = PopenPoolExecutor(max_workers=workers)

    def submit(self, runner_input, arguments):
        from tvm.s_tir.meta_schedule.runner.rpc_runner import _worker_func

        return self.pool.submit(_worker_func, None, None, arguments, None, None, self.config, self.evaluator, 1,
                                str(runner_input.artifact_path), str(runner_input.device_type),
                                tuple(a.as_json() for a in runner_input.args_info))

    def run(self, runner_inputs):
        from .measure import Arguments

        # The arrays are copied into this batch's allocator: the pool pickles it later.
        arguments = Arguments(remote=True, arrays=self.arguments.arrays)
        return [_Measurement(self, i, arguments) for i in runner_inputs]

    def wait(self, future, check_every: float = 15.0) -> None:
        """Until `future` is done; ServersLost once no server has had the key for `lost_after` s."""
        import concurrent.futures
        import time

        since = None
        while True:
            try:
                future.result(timeout=check_every)
                return
            except concurrent.futures.TimeoutError:
                pass
            except Exception:  # noqa: BLE001 - done, with an error (_as_result reports it)
                return
            try:
                alive = servers(self.tracker, seconds=check_every)
            except InputError:
                alive = 0
            if alive:
                since = None
                continue
            since = since or time.monotonic()
            if time.monotonic() - since >= self.lost_after:
                raise ServersLost(f"no RPC server with key {self.tracker.key!r} is left at the tracker "
                                  f"{self.tracker} (for {self.lost_after:.0f} s)")
