"""Bad input to `tvm-dsprune tune`: one line each, exit 2, within a bounded time, and no database
folder left behind where there was none."""
import json
import socket
import subprocess
import time

import pytest

from conftest import console_script
from tuning_helpers import write_database
from tvm_dsprune.tuning.database import RECORDS


def tune_cli(*args, cwd):
    t0 = time.perf_counter()
    res = subprocess.run([str(console_script()), "tune", *map(str, args)], capture_output=True, text=True,
                         cwd=cwd, timeout=300)
    return res, time.perf_counter() - t0


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]          # nothing listens there once the socket is closed


@pytest.fixture(scope="module")
def other_cpu_db(tmp_path_factory, zoo_onnx):
    folder = tmp_path_factory.mktemp("other") / "db"
    write_database(folder, zoo_onnx("tiny"), limit=2)
    recs = [json.loads(line) for line in (folder / RECORDS).read_text().splitlines()]
    for r in recs:
        r[1][2]["mcpu"] = "cortex-a76"
    (folder / RECORDS).write_text("".join(json.dumps(r) + "\n" for r in recs))
    return folder


def test_bad_input_is_one_message_and_no_folder(zoo_onnx, tmp_path, other_cpu_db):
    model = zoo_onnx("tiny")
    (tmp_path / "a_file").write_text("x")
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    for name in ("database_workload.json", RECORDS):
        (corrupt / name).write_bytes((other_cpu_db / name).read_bytes())
    lines = (corrupt / RECORDS).read_text().splitlines(keepends=True)
    (corrupt / RECORDS).write_text("{oops\n" + "".join(lines))
    port = closed_port()
    cases = [
        (["--trials", "0", "--tuning-records", tmp_path / "new0"], "--trials 0: must be a whole number of at least 1"),
        (["--trials", "-5", "--tuning-records", tmp_path / "new1"], "--trials -5: must be a whole number"),
        (["--trials", "4", "--tuning-records", tmp_path / "a_file"], "is a file, not a database folder"),
        (["--trials", "4", "--tuning-records", other_cpu_db], "are for target mcpu='cortex-a76'"),
        (["--trials", "4", "--tuning-records", corrupt], f"line 1 of {RECORDS} is not a MetaSchedule tuning record"),
        (["--trials", "4", "--target", "vulkan9", "--tuning-records", tmp_path / "new2"], "unknown target 'vulkan9'"),
        (["--trials", "4", "--tuning-records", tmp_path / "new3", "--rpc-tracker", f"127.0.0.1:{port}",
          "--rpc-key", "cpu"], f"cannot reach the RPC tracker at 127.0.0.1:{port}"),
        (["--trials", "4", "--tuning-records", tmp_path / "new4", "--rpc-tracker", "nohost"], "write HOST:PORT"),
        (["--trials", "4", "--tuning-records", tmp_path / "new5", "--rpc-tracker", "127.0.0.1:9190"],
         "--rpc-tracker needs --rpc-key"),
        (["--trials", "4", "--tuning-records", tmp_path / "new6", "--target",
          '{"kind": "llvm", "mtriple": "aarch64-linux-gnu"}'], "measure on a board with --rpc-tracker"),
        (["--trials", "4", "--tuning-records", tmp_path / "new7", "--target", "cuda"],
         "this machine has no cuda device to measure on"),
    ]
    for args, message in cases:
        res, seconds = tune_cli(model, *args, cwd=tmp_path)
        assert res.returncode == 2, (args, res.stdout, res.stderr)
        err = res.stderr.strip()
        assert err.count("\n") == 0 and "Traceback" not in res.stderr, err
        assert message in err, (message, err)
        assert seconds < 60, (args, seconds)
    assert not any((tmp_path / f"new{i}").exists() for i in range(8))
    assert (corrupt / RECORDS).read_text().startswith("{oops")       # a bad database is not touched


def test_a_key_no_server_has_is_one_message(zoo_onnx, tmp_path):
    from loopback_rpc import tracker_with_servers

    with tracker_with_servers(0, "cpu", tmp_path) as lb:
        res, seconds = tune_cli(zoo_onnx("tiny"), "--trials", "4", "--tuning-records", tmp_path / "db",
                                "--rpc-tracker", lb.address, "--rpc-key", "no-such-board", cwd=tmp_path)
    assert res.returncode == 2 and res.stderr.count("\n") == 1
    assert f"no RPC server is registered at the tracker {lb.address} with key 'no-such-board'" in res.stderr
    assert seconds < 60 and not (tmp_path / "db").exists()
