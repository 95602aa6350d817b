"""RPC faults, each one clear message and no partial output file: tracker down, no server under
the key, a busy key (waited for, then given up on), a server killed in the middle of a run, a
session timeout. A real tracker and TVM's stock RPC server on 127.0.0.1 (this machine's CPU)."""
import subprocess
import threading
import time

import numpy as np
import pytest

from conftest import console_script, free_port, run_ort, start_server
from tvm_dsprune import zoo
from tvm_dsprune.build.compile import compile
from tvm_dsprune.errors import InputError, RemoteError
from tvm_dsprune.runtime import rpc
from tvm_dsprune.runtime.run import run
from tvm_dsprune.runtime.session import LoadedModel


@pytest.fixture(scope="module")
def tiny_x86(tmp_path_factory, zoo_onnx):
    folder = tmp_path_factory.mktemp("x86")
    return compile(zoo_onnx("tiny"), "llvm", folder / "tiny.tar").package


def test_runs_on_a_loopback_server_through_the_tracker(tracker, loopback_server, tiny_x86, zoo_onnx):
    x = zoo.example_input("tiny", seed=2).numpy()
    with rpc.connect(tracker, loopback_server, session_timeout=120) as session:
        res = run(tiny_x86, {"input": x}, session=session, repeat=2)
    np.testing.assert_allclose(res.outputs["output"], run_ort(zoo_onnx("tiny"), x), rtol=1e-4, atol=1e-5)
    assert len(res.latency_ms) == 2


def test_direct_host_and_port(rpc_folder, tiny_x86):
    server = start_server(rpc_folder, None, "direct")
    try:
        with rpc.connect(host="127.0.0.1", port=server.port, session_timeout=120) as session:
            res = run(tiny_x86, session=session)
        assert res.outputs["output"].shape == (1, 10)
    finally:
        server.stop()
    with pytest.raises(RemoteError, match=f"RPC server 127.0.0.1:{server.port} is not reachable"):
        rpc.connect(host="127.0.0.1", port=server.port)


@pytest.mark.parametrize("kwargs,message", [
    (dict(tracker="127.0.0.1"), "--rpc-tracker '127.0.0.1': expected HOST:PORT"),
    (dict(tracker="127.0.0.1:9190"), "--rpc-tracker needs --rpc-key"),
    (dict(key="k"), "give --rpc-tracker HOST:PORT with --rpc-key KEY"),
    (dict(tracker="127.0.0.1:9190", key="k", host="h", port=1), "not both"),
])
def test_flag_errors(kwargs, message):
    with pytest.raises(InputError, match=message):
        rpc.connect(**kwargs)


def test_tracker_down_is_one_line_and_writes_nothing(tiny_x86, tmp_path):
    port = free_port()
    with pytest.raises(RemoteError, match=f"RPC tracker 127.0.0.1:{port} is not reachable .*rpc_tracker"):
        rpc.connect(f"127.0.0.1:{port}", "any")
    res = subprocess.run([str(console_script()), "run", str(tiny_x86), "--rpc-tracker", f"127.0.0.1:{port}",
                          "--rpc-key", "rk3399", "--outputs", str(tmp_path / "o.npz")],
                         capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert res.returncode == 2
    assert res.stderr.strip().count("\n") == 0 and "is not reachable" in res.stderr
    assert list(tmp_path.iterdir()) == []


def test_no_server_under_the_key(tracker, loopback_server):
    with pytest.raises(RemoteError, match="no RPC server is registered under key 'rk3399' .*keys there: "
                                          ".*loopback-cpu.*--key rk3399"):
        rpc.connect(tracker, "rk3399")


def test_busy_key_is_waited_for_then_given_up(tracker, loopback_server):
    first = rpc.connect(tracker, loopback_server, session_timeout=120)
    try:
        start = time.monotonic()
        with pytest.raises(RemoteError, match="all 1 RPC server.* under key 'loopback-cpu' .* stayed busy for 2 s"):
            rpc.connect(tracker, loopback_server, wait=2)
        assert time.monotonic() - start < 30
        # the key frees up while a second client waits in the tracker's queue: it gets the server
        threading.Timer(3.0, first.close).start()
        with rpc.connect(tracker, loopback_server, wait=120, session_timeout=120) as second:
            assert second.arch() == "x86_64"
    finally:
        first.close()


def test_server_killed_in_the_middle_of_a_run(rpc_folder, tracker, tiny_x86, tmp_path):
    server = start_server(rpc_folder, tracker, "doomed")
    try:
        session = rpc.connect(tracker, "doomed", session_timeout=300)
        model = LoadedModel(tiny_x86, session=session)
        feed = {"input": zoo.example_input("tiny").numpy()}
        threading.Timer(2.0, server.stop).start()
        with pytest.raises(RemoteError, match="lost the connection to the board under key 'doomed' .* while "
                                              "timing the model"):
            model.time(feed, repeat=10000, number=100)
    finally:
        server.stop()


def test_session_timeout(tracker, loopback_server, tiny_x86, tmp_path):
    session = rpc.connect(tracker, loopback_server, session_timeout=2)
    try:
        model = LoadedModel(tiny_x86, session=session)
        with pytest.raises(RemoteError, match="ran past its timeout of 2 s while timing the model: give it more "
                                              "time \\(--rpc-session-timeout\\)"):
            model.time({"input": zoo.example_input("tiny").numpy()}, repeat=10000, number=100)
    finally:
        session.close()
    out = subprocess.run([str(console_script()), "run", str(tiny_x86), "--rpc-tracker", tracker, "--rpc-key",
                          loopback_server, "--rpc-session-timeout", "1", "--repeat", "100000",
                          "--outputs", str(tmp_path / "o.npz")],
                         capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert out.returncode == 2 and out.stderr.strip().count("\n") == 0, out.stderr
    assert "ran past its timeout of 1 s" in out.stderr
    assert list(tmp_path.iterdir()) == []


def test_bench_for_another_architecture_than_the_board(tracker, loopback_server, tmp_path, capsys):
    from tvm_dsprune.cli import main

    assert main(["bench", "--e2e-models", "tiny", "--presets", "deprune-bh", "--target", "aarch64-cpu",
                 "--rpc-tracker", tracker, "--rpc-key", loopback_server, "--json", str(tmp_path / "b.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--target aarch64-cpu builds aarch64 code; the board under key" in err
    assert "is x86_64" in err and list(tmp_path.iterdir()) == []
