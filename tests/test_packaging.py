"""pyproject lists packages by hand (schedules/ and tuning_logs/ are mapped in): every folder must be there."""
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_every_package_folder_is_listed():
    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "tvm_dsprune").rglob("__init__.py")}
    found |= {"tvm_dsprune.schedules" + "".join("." + x for x in p.parent.relative_to(REPO / "schedules").parts)
              for p in (REPO / "schedules").rglob("__init__.py")}
    found |= {"tvm_dsprune.tuning_logs" for p in (REPO / "tuning_logs").glob("__init__.py")}
    assert found == listed


def test_pins():
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    assert "apache-tvm>=0.27,<0.28" in deps and "apache-tvm-ffi>=0.1.14,<0.1.15" in deps
    assert "torch==2.13.0" in deps
    # xgboost (not -cpu) pulls nvidia-nccl-cu12 (469 MB) into every install
    assert "xgboost-cpu>=2.0" in deps and not any(d.split(">")[0].split("=")[0] == "xgboost" for d in deps)
