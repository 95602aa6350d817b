"""Distributed tuning: measurements go to the servers a real TVM RPC tracker hands out (two
servers on 127.0.0.1); killing one in the middle of the run leaves the tuning going on the
other, with every trial recorded as a measurement."""
import json
import os
import signal
import subprocess

import pytest

from conftest import console_script
from loopback_rpc import stop, tracker_with_servers
from tvm_dsprune.tuning.database import RECORDS, scan

pytestmark = pytest.mark.slow

TRIALS = 12


def test_tuning_through_a_tracker_survives_a_killed_server(zoo_onnx, tmp_path):
    db = tmp_path / "db"
    with tracker_with_servers(2, "cpu", tmp_path) as lb:
        proc = subprocess.Popen([str(console_script()), "tune", str(zoo_onnx("tiny")), "--trials", str(TRIALS),
                                 "--trials-per-round", "3", "--tuning-records", str(db), "--rpc-tracker",
                                 lb.address, "--rpc-key", "cpu"],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
        out, killed_at = [], None
        try:
            for line in proc.stdout:
                out.append(line)
                if line.startswith("[") and killed_at is None:
                    served = [lb.sessions(0), lb.sessions(1)]
                    stop(lb.servers[0], signal.SIGKILL)
                    killed_at = len(out)
            rc = proc.wait(timeout=600)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        text = "".join(out)
        assert rc == 0, text
        assert "2 server(s) with key 'cpu', 2 measuring at once" in text
        assert killed_at is not None and f"{TRIALS} of {TRIALS} trials in {db}" in text
        assert served[0] >= 1 and served[1] >= 1            # both servers measured before the kill
        assert lb.sessions(1) > served[1]                   # the other one went on alone
    files = scan(db)
    assert files.records == TRIALS
    assert sum(files.valid_per_workload.values()) == TRIALS   # no trial lost to the killed server
    recs = [json.loads(line) for line in (db / RECORDS).read_text().splitlines()]
    assert len({(r[0], json.dumps(r[1][0])) for r in recs}) == TRIALS
