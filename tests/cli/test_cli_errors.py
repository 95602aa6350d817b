"""Every failure is one message: bad input, unwritable outputs, broken targets and toolchains,
options that would do nothing, as the `tvm-dsprune` command line sees them.

One table: the command, its exit status, a phrase of its one stderr line, and no file left
behind (no output, no `.partial`, an existing file untouched). A second table holds the
commands that succeed but must say something (a note or a warning). The signals (Ctrl-C, a
reader that closes the pipe) run the real console script in a subprocess.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from conftest import console_script
from tvm_dsprune.build.compile import compile
from tvm_dsprune.cli import main
from tvm_dsprune.pruning.onnx_prune import prune

DW_ALL = "/features/features.1/block/block.1/block.1.0/Conv"     # a depthwise layer of the tiny model


@pytest.fixture(scope="module")
def files(tmp_path_factory, zoo_onnx):
    """The tiny model, pruned, its masks and a package compiled from it, and bad files."""
    folder = tmp_path_factory.mktemp("cli_files")
    shutil.copy(zoo_onnx("tiny"), folder / "M.onnx")
    prune(folder / "M.onnx", folder / "P.onnx", dw="dcp-bh:0.8", pw="group-optimal:0.8", target="llvm",
          masks=folder / "m.npz")
    compile(folder / "P.onnx", "llvm", folder / "P.tar")
    rng = np.random.default_rng(0)
    np.savez(folder / "in64.npz", input=rng.standard_normal((1, 3, 32, 32)))
    np.savez(folder / "empty.npz")
    (folder / "alpha.json").write_text(json.dumps({"/no/such/Conv": 0.2}))
    (folder / "plan.json").write_text(json.dumps({"layers": {"/features/*": {"methd": "dcp:0.5"}}}))
    (folder / "not_onnx.onnx").write_text("hello, I am not a model\n")
    return folder


@pytest.fixture
def work(files, tmp_path, monkeypatch):
    """A fresh working folder holding copies of `files`, plus an existing folder and a
    read-only file; the current folder during the test."""
    for f in files.iterdir():
        shutil.copy(f, tmp_path / f.name)
    (tmp_path / "adir").mkdir()
    (tmp_path / "readonly.onnx").write_text("keep me")
    (tmp_path / "readonly.onnx").chmod(0o444)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def unwritable_folder(base: Path) -> Path:
    """A folder this process cannot create files in: a read-only folder, or for root (who
    writes anywhere a mode allows) sysfs, where even root cannot create files."""
    if os.geteuid() != 0:
        ro = base / "ro"
        ro.mkdir()
        ro.chmod(0o555)
        return ro
    if Path("/sys").is_dir():
        return Path("/sys")
    pytest.skip("running as root with no sysfs: no unwritable folder to try")


def snapshot(folder: Path) -> dict[str, tuple]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns, p.stat().st_mode)
            for p in folder.rglob("*")}


@dataclass
class Row:
    id: str
    argv: list[str]
    status: int
    phrase: str
    env: dict = field(default_factory=dict)


# input, expected exit status, a phrase of the message; every row leaves no file behind
ERRORS = [
    # outputs: whole or not at all, checked before the work
    Row("prune -o an unwritable folder", ["prune", "M.onnx", "-o", "{ro}/p.onnx", "--dw", "dcp:0.5"],
        2, "cannot write in"),
    Row("prune -o an existing folder", ["prune", "M.onnx", "-o", "adir", "--dw", "dcp:0.5"], 2, "adir is a folder"),
    Row("prune -o a read-only file", ["prune", "M.onnx", "-o", "readonly.onnx", "--dw", "dcp:0.5"],
        2, "readonly.onnx exists and is read-only"),
    Row("prune: one path for two outputs", ["prune", "M.onnx", "-o", "p.onnx", "--report", "p.onnx"],
        2, "given as more than one output"),
    Row("compile -o ok.tar --report missing/r.json", ["compile", "M.onnx", "-o", "ok.tar", "--report",
                                                      "missing/r.json"], 2, "folder missing does not exist"),
    Row("compile -o an existing folder", ["compile", "M.onnx", "-o", "adir"], 2, "name it NAME.tar"),
    Row("compile -o model.pkg", ["compile", "M.onnx", "-o", "model.pkg"], 2, "name it NAME.tar"),
    Row("run --outputs an existing folder", ["run", "P.tar", "--outputs", "adir", "--repeat", "0"],
        2, "adir is a folder"),
    Row("zoo -o an unwritable folder", ["zoo", "tiny", "-o", "{ro}/t.onnx"], 2, "cannot write in"),
    # targets and toolchains: one line, not a traceback
    Row("target JSON with an unknown key", ["compile", "M.onnx", "-o", "m.tar", "--target",
                                           '{"kind": "llvm", "bogus": 3}'], 2, "not a valid TVM target"),
    Row("--target-host foo", ["compile", "M.onnx", "-o", "m.tar", "--target", "cuda", "--target-host", "foo"],
        2, "the host of a GPU target is an llvm CPU target"),
    Row("--target-host on a CPU target", ["compile", "M.onnx", "-o", "m.tar", "--target-host", "llvm"],
        2, "applies to GPU targets"),
    Row("TVM target string that is not -key=value", ["compile", "M.onnx", "-o", "m.tar", "--target", "llvm -mcpu"],
        2, "is not -key=value"),
    Row("aarch64 target, -o .so, no --cross-compiler",
        ["compile", "M.onnx", "-o", "m.so", "--target", '{"kind": "llvm", "mtriple": "aarch64-linux-gnu"}'],
        2, "must be linked for that machine: give --cross-compiler"),
    Row("--cross-compiler nonexistent-g++", ["compile", "M.onnx", "-o", "m.tar", "--cross-compiler",
                                            "nonexistent-g++"], 2, "'nonexistent-g++': no such compiler on PATH"),
    Row("nvptx target without libdevice", ["compile", "M.onnx", "-o", "m.tar", "--target",
                                          '{"kind": "nvptx", "mcpu": "sm_80"}'],
        2, "needs CUDA's libdevice", env={"CUDA_PATH": "{empty}"}),
    Row("run --compare-onnx on a file that is not ONNX", ["run", "P.tar", "--compare-onnx", "not_onnx.onnx",
                                                         "--outputs", "o.npz"], 2, "is not an ONNX model"),
    # options that would silently do nothing or harm
    Row("--masks-in with --dw", ["prune", "M.onnx", "-o", "p.onnx", "--masks-in", "m.npz", "--dw", "dcp:0.5"],
        2, "--dw would be ignored"),
    Row("--hsr-alpha naming an unknown layer", ["prune", "M.onnx", "-o", "p.onnx", "--dw", "dcp-bh:0.8",
                                                "--hsr-alpha", "alpha.json"], 2, "names no depthwise layer"),
    Row("plan override with a misspelt key", ["prune", "M.onnx", "-o", "p.onnx", "--plan", "plan.json"],
        2, "unknown keys ['methd']"),
    Row("empty masks file", ["prune", "M.onnx", "-o", "p.onnx", "--masks-in", "empty.npz"], 2, "holds no arrays"),
    Row("run --compare-onnx above the tolerance", ["run", "P.tar", "--compare-onnx", "M.onnx", "--outputs",
                                                  "o.npz", "--repeat", "0"], 1, "differs from onnxruntime"),
    Row("run --rtol without --compare-onnx", ["run", "P.tar", "--rtol", "1e-3"], 2, "tolerances of --compare-onnx"),
    Row("run --inputs missing", ["run", "P.tar", "--inputs", "missing.npz"], 2, "inputs file missing.npz: no such"),
    Row("run --inputs not an npz", ["run", "P.tar", "--inputs", "M.onnx"], 2, "inputs file M.onnx is not a .npz"),
    Row("zoo -o x.onnx without a name", ["zoo", "-o", "x.onnx"], 2, "which model goes to x.onnx"),
]


@pytest.mark.parametrize("row", ERRORS, ids=[r.id for r in ERRORS])
def test_error_is_one_line_and_leaves_nothing(row, work, tmp_path_factory, monkeypatch, capsys):
    ro = unwritable_folder(tmp_path_factory.mktemp("ro")) if any("{ro}" in a for a in row.argv) else None
    empty = tmp_path_factory.mktemp("empty")
    for key, value in row.env.items():
        monkeypatch.setenv(key, value.replace("{empty}", str(empty)))
    argv = [a.replace("{ro}", str(ro)) for a in row.argv]
    before = snapshot(work)
    ro_before = set(os.listdir(ro)) if ro is not None else None
    status = main(argv)
    err = capsys.readouterr().err.strip()
    assert status == row.status, err
    assert row.phrase in err
    assert err.count("\n") == 0 and "Traceback" not in err
    assert snapshot(work) == before                      # nothing written, nothing replaced
    if ro is not None:
        assert set(os.listdir(ro)) == ro_before


# succeeds, and says what the user must know
NOTICES = [
    ("--dw dcp:0.9999 empties every DW layer", ["prune", "M.onnx", "-o", "p.onnx", "--dw", "dcp:0.9999"],
     "err", "3 layer(s) keep none of their weights"),
    ("--fc on a model whose only FC layer is the classifier",
     ["prune", "M.onnx", "-o", "p.onnx", "--fc", "magnitude:0.5"],
     "out", "--fc magnitude:0.5 changed nothing: /classifier/Gemm: last layer (classifier)"),
    ("an all-True masks file", ["prune", "M.onnx", "-o", "p.onnx", "--masks-in", "dense.npz"],
     "out", "prunes nothing: every mask in it is all True"),
    ("float64 inputs", ["run", "P.tar", "--inputs", "in64.npz", "--repeat", "0", "--compare-onnx", "P.onnx"],
     "out", "cast 'input' from float64 to float32"),
]


@pytest.mark.parametrize("name,argv,stream,phrase", NOTICES, ids=[n[0] for n in NOTICES])
def test_notices(name, argv, stream, phrase, work, capsys):
    masks = np.load("m.npz", allow_pickle=False)
    np.savez("dense.npz", **{k: np.ones_like(masks[k]) for k in masks.files})
    assert main(argv) == 0
    out, err = capsys.readouterr()
    text = out if stream == "out" else err
    assert text.count(phrase) == 1, (out, err)       # said once
    if "-o" in argv:
        assert Path(argv[argv.index("-o") + 1]).is_file()
    if name.startswith("--dw"):
        assert DW_ALL in err


def test_compare_onnx_passes_within_tolerance_and_reports_both_errors(work, capsys):
    assert main(["run", "P.tar", "--compare-onnx", "P.onnx", "--repeat", "0", "--outputs", "o.npz"]) == 0
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if "matches onnxruntime" in ln)
    max_abs = float(line.split("max abs error ")[1].split(",")[0])
    max_rel = float(line.split("max rel error ")[1].split()[0])
    assert max_abs < 1e-4 and max_rel < 1e-3
    assert Path("o.npz").is_file()
    # the same build fails a tolerance it does not meet: the gate is real
    assert main(["run", "P.tar", "--compare-onnx", "P.onnx", "--repeat", "0", "--rtol", "0", "--atol", "0"]) == 1


def test_an_aarch64_package_without_cross_compiler_holds_object_files(work, capsys):
    target = '{"kind": "llvm", "mtriple": "aarch64-linux-gnu"}'
    assert main(["compile", "M.onnx", "-o", "arm.tar", "--target", target, "-q"]) == 0
    with tarfile.open("arm.tar") as tar:
        assert sorted(tar.getnames()) == ["lib.tar", "meta.json"]
    assert main(["run", "arm.tar"]) == 2
    err = capsys.readouterr().err
    assert "holds aarch64 code" in err and "over RPC" in err


def test_a_tvm_target_string_is_accepted(work):
    assert main(["compile", "M.onnx", "-o", "s.tar", "--target", "llvm -mcpu=skylake -mattr=+avx2", "-q"]) == 0
    with tarfile.open("s.tar") as tar:
        meta = json.loads(tar.extractfile("meta.json").read())
    assert meta["target"]["mcpu"] == "skylake" and "+avx2" in meta["target"]["mattr"]


def test_so_output_is_a_plain_shared_library_that_runs(work, capsys):
    """-o NAME.so: the bare library, as tvmc exported it; it loads and runs like TVM's own."""
    import tvm
    from tvm import relax

    from conftest import run_ort
    from tvm_dsprune import zoo

    assert main(["compile", "P.onnx", "-o", "m.so", "-q"]) == 0
    assert "is the bare library" in capsys.readouterr().out
    assert Path("m.so").read_bytes()[:4] == b"\x7fELF"
    vm = relax.VirtualMachine(tvm.runtime.load_module(str(work / "m.so")), tvm.cpu())
    x = zoo.example_input("tiny", seed=3).numpy()
    y = vm["main"](tvm.runtime.tensor(x)).numpy()
    np.testing.assert_allclose(y, run_ort(work / "P.onnx", x), rtol=1e-4, atol=1e-5)
    assert main(["run", "m.so"]) == 2
    assert "is a bare library" in capsys.readouterr().err


# -- signals: the real console script -------------------------------------------------------

def _spawn(args, cwd, **kw):
    return subprocess.Popen([str(console_script()), *args], cwd=cwd, text=True, **kw)


@pytest.mark.parametrize("moment,delay", [("importing", 0.0), ("sparsify", 1.0), ("building", 0.0)])
def test_ctrl_c_during_compile_ends_130_with_no_package(moment, delay, work):
    """SIGINT at a few moments of a compile: exit 130, one line, no package, no traceback
    (the compile must not go on to write a package, nor turn the interrupt into an error)."""
    proc = _spawn(["compile", "P.onnx", "-o", "m.tar", "--report", "r.json", "--sparse", "on"], work,
                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        for line in proc.stdout:
            if moment in line:
                time.sleep(delay)
                proc.send_signal(signal.SIGINT)
                break
        else:
            pytest.fail(f"the compile never printed {moment!r}")
        _, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and err.strip().splitlines()[-1] == "tvm-dsprune compile: interrupted"
    assert not any(p.name.startswith(("m.tar", "r.json", ".m.tar", ".r.json")) for p in work.iterdir())


@pytest.mark.parametrize("args,product", [
    (["targets"], None),
    (["prune", "M.onnx", "-o", "p.onnx", "--dw", "dcp:0.5"], "p.onnx"),
    (["compile", "P.onnx", "-o", "m.tar"], "m.tar"),
])
def test_a_closed_stdout_does_not_stop_the_work(args, product, work):
    """`... | head -1`: the reader goes away after a line (here: before the first one)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = _spawn(args, work, stdout=write_end, stderr=subprocess.PIPE)
    finally:
        os.close(write_end)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    assert err == ""
    if product:
        assert (work / product).is_file()


def test_head_minus_one(work):
    """The shell form of the row: no BrokenPipeError, whatever the timing of head's exit."""
    res = subprocess.run(["bash", "-c", f"set -o pipefail; '{console_script()}' targets | head -1"],
                         cwd=work, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0 and res.stderr == "" and len(res.stdout.splitlines()) == 1
