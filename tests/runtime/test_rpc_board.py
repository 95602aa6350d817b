"""Pruned models cross-compiled for aarch64, deployed through a tracker to an emulated aarch64
board (TVM's RPC server under qemu-user), run there and checked against onnxruntime run here.

One board serves every test (importing TVM under emulation is slow); its timings say nothing
about a real board's speed and are not checked beyond being measured there.
"""
import json
import subprocess
import tarfile

import numpy as np
import pytest

from conftest import console_script, run_ort
from tvm_dsprune import zoo
from tvm_dsprune.build.compile import compile
from tvm_dsprune.errors import InputError, RemoteError
from tvm_dsprune.pruning.onnx_prune import prune
from tvm_dsprune.runtime import rpc
from tvm_dsprune.runtime.run import run
from tvm_dsprune.runtime.session import LoadedModel

CROSS = "aarch64-linux-gnu-g++"


@pytest.fixture(scope="module")
def tiny_aarch64(tmp_path_factory, zoo_onnx):
    """The tiny net pruned with NEON's geometry, compiled for aarch64-cpu twice: linked here by the
    cross compiler (lib.so), and as object files the board links when it loads them (lib.tar)."""
    folder = tmp_path_factory.mktemp("aarch64")
    pruned = folder / "tiny_p.onnx"
    prune(zoo_onnx("tiny"), pruned, dw="dcp-bh:0.8", pw="group-optimal:0.8", target="aarch64-cpu")
    linked = compile(pruned, "aarch64-cpu", folder / "tiny_so.tar", sparse="on", cross_compiler=CROSS)
    objects = compile(pruned, "aarch64-cpu", folder / "tiny_o.tar", sparse="on")
    assert linked.report["summary"]["sparse"] >= 3
    return pruned, folder / "tiny_so.tar", folder / "tiny_o.tar"


def board_session(board, **kw):
    return rpc.connect(board.tracker, board.key, session_timeout=kw.pop("session_timeout", 600), **kw)


def test_meta_says_what_the_library_is_for(tiny_aarch64):
    _, so_pkg, obj_pkg = tiny_aarch64
    for pkg, lib, kind in ((so_pkg, "lib.so", "shared"), (obj_pkg, "lib.tar", "objects")):
        with tarfile.open(pkg) as tar:
            meta = json.loads(tar.extractfile("meta.json").read())
            data = tar.extractfile(lib).read()
        assert (meta["arch"], meta["library"], meta["library_kind"]) == ("aarch64", lib, kind)
        assert meta["target"]["mtriple"] == "aarch64-linux-gnu" and meta["target_name"] == "aarch64-cpu"
        if kind == "shared":
            assert data[:4] == b"\x7fELF" and int.from_bytes(data[18:20], "little") == 183    # EM_AARCH64


def test_an_aarch64_package_here_is_one_clear_message(tiny_aarch64):
    _, so_pkg, obj_pkg = tiny_aarch64
    for pkg in (so_pkg, obj_pkg):
        with pytest.raises(InputError, match="holds aarch64 code .*this machine is x86_64.*--rpc-tracker"):
            run(pkg)


def test_pruned_model_runs_on_the_board_and_equals_onnxruntime(aarch64_board, tiny_aarch64, tmp_path):
    pruned, so_pkg, obj_pkg = tiny_aarch64
    x = zoo.example_input("tiny", seed=3).numpy()
    ref = run_ort(pruned, x)
    with board_session(aarch64_board) as session:
        assert session.arch() == "aarch64"
        for pkg in (so_pkg, obj_pkg):                  # linked here, and linked by the board on upload
            res = run(pkg, {"input": x}, session=session, repeat=3, outputs=tmp_path / f"{pkg.stem}.npz")
            err = np.abs(res.outputs["output"] - ref).max() / np.abs(ref).max()
            assert err < 1e-4, (pkg.name, err)
            assert len(res.latency_ms) == 3 and res.median_ms > 0
            with np.load(tmp_path / f"{pkg.stem}.npz", allow_pickle=False) as out:
                np.testing.assert_array_equal(out["output"], res.outputs["output"])


def test_cli_run_through_the_tracker(aarch64_board, tiny_aarch64, tmp_path):
    pruned, so_pkg, _ = tiny_aarch64
    res = subprocess.run([str(console_script()), "run", str(so_pkg), "--rpc-tracker", aarch64_board.tracker,
                          "--rpc-key", aarch64_board.key, "--rpc-session-timeout", "600", "--repeat", "3",
                          "--compare-onnx", str(pruned), "--outputs", str(tmp_path / "o.npz")],
                         capture_output=True, text=True, cwd=tmp_path, timeout=900)
    assert res.returncode == 0, res.stderr
    assert f"measured on the board under key '{aarch64_board.key}'" in res.stdout
    assert "matches onnxruntime" in res.stdout                       # within the default tolerance
    assert float(res.stdout.split("max abs error ")[1].split(",")[0]) < 1e-4
    assert (tmp_path / "o.npz").exists()


def test_wrong_architecture_and_unloadable_library_on_the_board(aarch64_board, zoo_onnx, tiny_aarch64, tmp_path):
    x86 = compile(zoo_onnx("tiny"), "llvm", tmp_path / "x86.tar").package
    mali = compile(zoo_onnx("tiny"), "mali", tmp_path / "mali.tar").package
    _, so_pkg, _ = tiny_aarch64
    broken = tmp_path / "broken.tar"                   # an aarch64 package whose library is not one
    with tarfile.open(so_pkg) as src, tarfile.open(broken, "w") as dst:
        for m in src.getmembers():
            data = src.extractfile(m).read()
            if m.name == "lib.so":
                data = b"\x7fELF" + bytes(60) + b"not a library"
                m.size = len(data)
            import io
            dst.addfile(m, io.BytesIO(data))
    with board_session(aarch64_board) as session:
        with pytest.raises(InputError, match="holds x86_64 code .*is aarch64: compile it for this board"):
            LoadedModel(x86, session=session)
        with pytest.raises(RemoteError, match="cannot load the library"):
            LoadedModel(broken, session=session)
        with pytest.raises(InputError, match="built for opencl, and the board .* has no opencl device"):
            LoadedModel(mali, session=session)


def test_cli_bench_on_the_board(aarch64_board, tmp_path):
    res = subprocess.run([str(console_script()), "bench", "--e2e-models", "tiny", "--presets", "cpu-sparse",
                          "--target", "aarch64-cpu", "--cross-compiler", CROSS, "--rounds", "3",
                          "--rpc-tracker", aarch64_board.tracker, "--rpc-key", aarch64_board.key,
                          "--json", str(tmp_path / "b.json")],
                         capture_output=True, text=True, cwd=tmp_path, timeout=1800)
    assert res.returncode == 0, res.stderr[-3000:]
    assert f"Timed on the board under key '{aarch64_board.key}'" in res.stdout
    row = json.loads((tmp_path / "b.json").read_text())["end_to_end"][0]
    assert row["rel_error_vs_onnxruntime"] < 1e-4
    assert row["TVM dense"] > 0 and row["TVM pruned"] > 0 and "onnxruntime dense" not in row


@pytest.mark.slow
def test_pruned_mobilenet_v2_on_the_board(aarch64_board, zoo_onnx, tmp_path):
    pruned = tmp_path / "mnv2_p.onnx"
    prune(zoo_onnx("mobilenet_v2"), pruned, preset="deprune-bh", target="aarch64-cpu")
    pkg = compile(pruned, "aarch64-cpu", tmp_path / "mnv2.tar", cross_compiler=CROSS).package
    x = zoo.example_input("mobilenet_v2", seed=1).numpy()
    with board_session(aarch64_board) as session:
        res = run(pkg, {"input": x}, session=session, repeat=1, compare_onnx=pruned)
    assert res.errors["output"] < 1e-4
    assert res.median_ms > 0
