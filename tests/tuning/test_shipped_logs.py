"""Shipped tuning databases (tuning_logs/): compile uses the ones tuned for its very target on its
own and says so, can be told not to, and gives a user on another CPU the untuned schedules with a
hint to run `tune`; a non-editable install carries them."""
import json
import subprocess
import zipfile
from pathlib import Path

import pytest

from tuning_helpers import write_database
from tvm_dsprune import targets
from tvm_dsprune.build.compile import compile
from tvm_dsprune.tuning import shipped
from tvm_dsprune.tuning.database import describe_target

REPO = Path(__file__).resolve().parent.parent.parent


def _ship(base: Path, model, target: dict, label: str):
    folder = base / label / "tiny-dense"
    write_database(folder, model, limit=3)
    if target.get("mcpu") != targets.resolve("llvm").as_dict().get("mcpu"):
        recs = [json.loads(line) for line in (folder / "database_tuning_record.json").read_text().splitlines()]
        for r in recs:
            r[1][2] = target
        (folder / "database_tuning_record.json").write_text("".join(json.dumps(r) + "\n" for r in recs))
    (folder / "info.json").write_text(json.dumps({"target": target, "model": "tiny", "plan": "dense",
                                                  "trials": 3, "seconds": 1.0}))
    return folder


@pytest.fixture(scope="module")
def logs(tmp_path_factory, zoo_onnx):
    base = tmp_path_factory.mktemp("tuning_logs")
    here = targets.resolve("llvm").as_dict()
    other = dict(here, mcpu="cortex-a76", mtriple="aarch64-linux-gnu")
    _ship(base, zoo_onnx("tiny"), here, "llvm-here")
    _ship(base, zoo_onnx("tiny"), other, "llvm-other")
    return base, here, other


def test_compile_uses_the_shipped_database_of_its_target(logs, zoo_onnx, monkeypatch):
    base, here, other = logs
    monkeypatch.setattr(shipped, "root", lambda: base)
    mine, others = shipped.matching("llvm")
    assert [s.folder.parent.name for s in mine] == ["llvm-here"] and [s.folder.parent.name for s in others] == ["llvm-other"]
    said = []
    result = compile(zoo_onnx("tiny"), "llvm", None, progress=said.append)
    assert result.report["tuning_records"].startswith("shipped tuning_logs/llvm-here (tiny (dense)")
    assert result.report["summary"]["tuned"] >= 1
    assert any(m.startswith("tuning records: shipped tuning_logs/llvm-here") for m in said)
    off = compile(zoo_onnx("tiny"), "llvm", None, tuning_records=False)
    assert off.report["tuning_records"] is None and off.report["summary"]["tuned"] == 0


def test_another_cpu_gets_the_untuned_schedules_and_a_hint(logs, zoo_onnx, monkeypatch, tmp_path):
    import shutil

    base, here, other = logs
    shutil.copytree(base / "llvm-other", tmp_path / "llvm-other")
    monkeypatch.setattr(shipped, "root", lambda: tmp_path)
    said = []
    result = compile(zoo_onnx("tiny"), "llvm", None, progress=said.append)
    assert result.report["summary"]["tuned"] == 0 and result.report["tuning_records"] is None
    hint = result.report["tuning_hint"]
    assert describe_target(here) in hint and describe_target(other) in hint and "tvm-dsprune tune" in hint
    assert hint in said


def test_a_non_editable_install_carries_the_shipped_databases(tmp_path):
    src = tmp_path / "src"
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True,
                           text=True, check=True).stdout.split()
    for name in files:
        if (REPO / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            (src / name).write_bytes((REPO / name).read_bytes())
    extra = src / "tuning_logs" / "llvm-test" / "tiny-dense"
    extra.mkdir(parents=True)
    for name in ("info.json", "database_workload.json", "database_tuning_record.json"):
        (extra / name).write_text("{}\n")
    packed = src / "tuning_logs" / "llvm-test" / "tiny-packed"
    packed.mkdir(parents=True)
    for name in ("info.json", "database_workload.json.gz", "database_tuning_record.json.gz"):
        (packed / name).write_bytes(b"{}\n")
    import sys

    res = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                          str(src), "-w", str(tmp_path / "out")], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    names = zipfile.ZipFile(next((tmp_path / "out").glob("*.whl"))).namelist()
    assert "tvm_dsprune/tuning_logs/README.md" in names
    for name in ("info.json", "database_workload.json", "database_tuning_record.json"):
        assert f"tvm_dsprune/tuning_logs/llvm-test/tiny-dense/{name}" in names
    for name in ("info.json", "database_workload.json.gz", "database_tuning_record.json.gz"):
        assert f"tvm_dsprune/tuning_logs/llvm-test/tiny-packed/{name}" in names


def test_a_packed_database_is_unpacked_once_into_the_cache_and_applied(logs, zoo_onnx, monkeypatch, tmp_path):
    import shutil

    from tvm_dsprune.tuning import packed

    base, here, other = logs
    shutil.copytree(base / "llvm-here", tmp_path / "logs" / "llvm-here")
    folder = tmp_path / "logs" / "llvm-here" / "tiny-dense"
    plain = {n: (folder / n).read_bytes() for n in packed.FILES}
    packed.pack(folder)
    assert packed.is_packed(folder) and not any((folder / n).exists() for n in packed.FILES)
    assert sum((folder / (n + ".gz")).stat().st_size for n in plain) < sum(map(len, plain.values())) / 5
    monkeypatch.setattr(shipped, "root", lambda: tmp_path / "logs")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    first = compile(zoo_onnx("tiny"), "llvm", None)
    assert first.report["summary"]["tuned"] >= 1
    unpacked = list((tmp_path / "cache" / "tvm-dsprune" / "tuning_logs").iterdir())
    assert len(unpacked) == 1 and {n: (unpacked[0] / n).read_bytes() for n in plain} == plain
    again = compile(zoo_onnx("tiny"), "llvm", None)
    assert again.report["summary"]["tuned"] == first.report["summary"]["tuned"]
    assert list((tmp_path / "cache" / "tvm-dsprune" / "tuning_logs").iterdir()) == unpacked
    packed.unpack_in_place(folder)                # make_tuning_logs tunes it further in place
    assert {n: (folder / n).read_bytes() for n in plain} == plain and not packed.is_packed(folder)
