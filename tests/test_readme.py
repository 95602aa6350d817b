"""README's two commands: the test command is what CI runs; the demo command names the demo."""
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_ci_runs_the_readme_test_command():
    readme = (REPO / "README.md").read_text()
    ci = (REPO / ".ci" / "run").read_text()
    test_cmd = "python3 -m venv .venv && .venv/bin/pip install '.[dev]' && .venv/bin/pytest"
    assert test_cmd in readme and test_cmd in ci
    assert "python3 -m venv .venv && .venv/bin/pip install . && .venv/bin/tvm-dsprune demo" in readme
