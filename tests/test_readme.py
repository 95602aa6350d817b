"""Every code block of the README runs, in order, in one working folder, as a reader would run
them.

A block may be marked by an HTML comment on the line before it:
- `<!-- test: install -->`: installs into a fresh venv; not run here (the CI runs the test
  command, checked below against .ci/run);
- `<!-- test: fragment NAME ... -->`: Python that uses names its context defines (a model, a
  target, training batches); the test defines them;
- `<!-- test: slow -->`: whole models or GPU builds: run only by the slow test.
Unmarked blocks run as they are. The fast test runs the README on the tiny zoo model (its name
and input size substituted for MobileNet-V2's); the slow test runs every block verbatim.
"""
from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from conftest import console_script, run_ort

REPO = Path(__file__).resolve().parent.parent
MARK = re.compile(r"<!--\s*test:\s*(.*?)\s*-->")
TINY = {"mobilenet_v2": "tiny", "1, 3, 224, 224": "1, 3, 32, 32"}


@dataclass
class Block:
    line: int
    lang: str
    text: str
    marks: set
    names: list

    @property
    def runs(self) -> bool:
        return "install" not in self.marks


def readme_blocks() -> list[Block]:
    lines = (REPO / "README.md").read_text().splitlines()
    blocks, i = [], 0
    while i < len(lines):
        if lines[i].startswith("```") and lines[i].strip() != "```":
            lang = lines[i].strip("`").strip()
            start = i
            i += 1
            body = []
            while not lines[i].startswith("```"):
                body.append(lines[i])
                i += 1
            words = []
            prev = next((lines[k] for k in range(start - 1, -1, -1) if lines[k].strip()), "")
            m = MARK.fullmatch(prev.strip())
            if m:
                words = m.group(1).split()
            marks = {w for w in words if w in ("install", "fragment", "slow")}
            names = words[words.index("fragment") + 1:] if "fragment" in words else []
            blocks.append(Block(start + 1, lang, "\n".join(body) + "\n", marks, names))
        i += 1
    return blocks


def test_every_block_is_known():
    blocks = readme_blocks()
    assert blocks and all(b.lang in ("bash", "python") for b in blocks), [(b.line, b.lang) for b in blocks]
    installs = [b.text.strip() for b in blocks if not b.runs]
    assert installs == ["python3 -m venv .venv && .venv/bin/pip install . && .venv/bin/tvm-dsprune demo",
                        "python3 -m venv .venv && .venv/bin/pip install '.[dev]' && .venv/bin/pytest"]


def test_ci_runs_the_readme_test_command():
    readme = (REPO / "README.md").read_text()
    ci = (REPO / ".ci" / "run").read_text()
    test_cmd = "python3 -m venv .venv && .venv/bin/pip install '.[dev]' && .venv/bin/pytest"
    assert test_cmd in readme and test_cmd in ci


def _context(names: list[str], tiny: bool) -> dict:
    """What a fragment's surroundings define, for the model the README run uses."""
    res = 32 if tiny else 224
    ctx: dict = {}
    for name in names:
        if name == "train_batches":
            import torch

            gen = torch.Generator().manual_seed(0)
            classes = 10 if tiny else 1000
            ctx[name] = [(torch.randn(2, 3, res, res, generator=gen), torch.randint(0, classes, (2,), generator=gen))
                         for _ in range(2)]
        elif name == "x":
            ctx[name] = np.random.default_rng(0).standard_normal((1, 3, res, res)).astype(np.float32)
        elif name in ("mod", "target"):
            import onnx
            import tvm
            from tvm import relax

            from tvm_dsprune import targets
            from tvm_dsprune.frontend.model_io import onnx_inputs
            from tvm_dsprune.relax.lowering import import_onnx

            proto = onnx.load("pruned.onnx")
            ctx.update(tvm=tvm, relax=relax, target=targets.resolve("llvm").tvm(),
                       mod=import_onnx(proto, onnx_inputs(proto)))
        else:
            raise AssertionError(f"README fragment needs {name!r}, which this test does not define")
    return ctx


def _check_after(block: Block, ns: dict, folder: Path, tiny: bool) -> None:
    """Where a block's result can be checked against an oracle, check it."""
    if "ex" in ns and "mod" in block.names:           # the user pipeline's build equals onnxruntime
        import tvm
        from tvm import relax

        x = np.random.default_rng(1).standard_normal((1, 3, 32 if tiny else 224, 32 if tiny else 224))
        x = x.astype(np.float32)
        y = relax.VirtualMachine(ns["ex"], tvm.cpu())["main"](tvm.runtime.tensor(x)).numpy()
        np.testing.assert_allclose(y, run_ort(folder / "pruned.onnx", x), rtol=1e-4, atol=1e-5)
    if "model" in ns and "x" in block.names:          # PoCL's result equals onnxruntime
        np.testing.assert_allclose(ns["y"], run_ort(folder / "p.onnx", ns["x"]), rtol=1e-4, atol=1e-5)


def run_readme(folder: Path, tiny: bool, slow: bool, monkeypatch) -> list[int]:
    monkeypatch.chdir(folder)
    env = dict(os.environ, PATH=f"{console_script().parent}{os.pathsep}{os.environ.get('PATH', '')}")
    ran = []
    for block in readme_blocks():
        if not block.runs or ("slow" in block.marks and not slow):
            continue
        text = block.text
        if tiny:
            for old, new in TINY.items():
                text = text.replace(old, new)
        if block.lang == "bash":
            res = subprocess.run(["bash", "-e", "-c", text], cwd=folder, env=env, capture_output=True, text=True,
                                 timeout=3600)
            assert res.returncode == 0, f"README line {block.line}:\n{text}\n{res.stdout[-2000:]}\n{res.stderr[-3000:]}"
            assert "Traceback" not in res.stderr
        else:
            ns = _context(block.names, tiny)
            exec(compile(text, f"README.md:{block.line}", "exec"), ns)   # noqa: S102 - the README's own code
            _check_after(block, ns, folder, tiny)
        ran.append(block.line)
    return ran


def test_readme_runs_on_the_tiny_model(tmp_path, monkeypatch):
    ran = run_readme(tmp_path, tiny=True, slow=False, monkeypatch=monkeypatch)
    assert len(ran) == sum(1 for b in readme_blocks() if b.runs and "slow" not in b.marks)
    assert (tmp_path / "out.npz").is_file() and (tmp_path / "masks.npz").is_file()


@pytest.mark.slow
def test_readme_runs_verbatim(tmp_path, monkeypatch):
    ran = run_readme(tmp_path, tiny=False, slow=True, monkeypatch=monkeypatch)
    assert len(ran) == sum(1 for b in readme_blocks() if b.runs)
    assert (tmp_path / "p_mali.tar").is_file() and (tmp_path / "p_h100.tar").is_file()
