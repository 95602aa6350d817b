"""tools/gpu_check.py, the prepared GPU run, tested here: its pieces against independent oracles,
and its --dry-run end to end (CUDA packages compiled and packed, then the CPU twin of the run in
runtime-only TVM, which writes the JSON and markdown tables)."""
import importlib.util
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, run_ort

SCRIPT = REPO / "tools" / "gpu_check.py"


@pytest.fixture(scope="module")
def gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def splitmix_oracle(index: int, seed: int) -> float:
    """The same hash in Python integers (arbitrary precision, masked): the device recomputes the
    inputs, so they must not depend on numpy's generators or float maths."""
    mask = (1 << 64) - 1
    u = (index + seed * 0x9E3779B97F4A7C15 % (1 << 64)) & mask
    u = ((u ^ (u >> 30)) * 0xBF58476D1CE4E5B9) & mask
    u = ((u ^ (u >> 27)) * 0x94D049BB133111EB) & mask
    u ^= u >> 31
    return ((u >> 40) / (1 << 24) - 0.5) * 4.0


def test_inputs_are_the_same_bits_everywhere(gpu_check):
    x = gpu_check.det_input((2, 3, 5, 7), seed=32)
    assert x.dtype == np.float32 and x.min() >= -2 and x.max() < 2
    flat = x.ravel()
    for i in (0, 1, 17, 209):
        assert flat[i] == np.float32(splitmix_oracle(i, 32))
    assert np.array_equal(x, gpu_check.det_input((2, 3, 5, 7), seed=32))
    assert not np.array_equal(x, gpu_check.det_input((2, 3, 5, 7), seed=1))
    assert abs(float(gpu_check.det_input((64, 64), 3).mean())) < 0.1


def test_snapped_weights_have_255_levels_and_stay_close(gpu_check, zoo_onnx, tmp_path):
    import onnx
    from onnx import numpy_helper

    path = tmp_path / "tiny.onnx"
    path.write_bytes(Path(zoo_onnx("tiny")).read_bytes())
    before = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(path)).graph.initializer}
    gpu_check.snap_weights(path)
    after = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(path)).graph.initializer}
    for name, w in before.items():
        if w.size >= 16:
            scale = np.abs(w).max() / 127
            assert len(np.unique(after[name])) <= 255
            assert np.abs(after[name] - w).max() <= scale / 2 + 1e-7
    x = gpu_check.det_input((1, 3, 32, 32), 1)
    assert np.abs(run_ort(path, x) - run_ort(zoo_onnx("tiny"), x)).max() < 0.5


def test_every_dw_layer_is_paired_with_its_project_conv_past_squeeze_excite(gpu_check, zoo_onnx):
    pairs = gpu_check.layer_pairs(zoo_onnx("tiny"))
    assert [p["name"].split("/")[2] for p in pairs] == ["features.1", "features.2", "features.3"]
    for p in pairs:
        assert p["pw"]["cin"] == p["channels"]
        assert "fc" not in p["pw"]["name"]           # block 2's squeeze-excite convs are skipped
    assert pairs[1]["kernel"] == [5, 5] and pairs[1]["stride"] == [2, 2] and pairs[1]["output"] == [8, 8]


def test_batch_twins_cost_one_copy_in_the_bundle(gpu_check, tmp_path):
    payload = np.random.default_rng(0).bytes(6 << 20)              # incompressible, like a package
    manifest = {"packages": [{"package": "a.tar"}, {"package": "b.tar"}]}
    (tmp_path / "a.tar").write_bytes(payload)
    (tmp_path / "b.tar").write_bytes(payload[:-1000] + b"x" * 1000)
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    np.savez(tmp_path / "references.npz", r=np.zeros(3))
    out = gpu_check.pack(tmp_path, manifest, tmp_path / "bundle")
    assert out.stat().st_size < 1.1 * len(payload)
    with tarfile.open(out, "r:xz") as tar:
        assert tar.extractfile("b.tar").read() == (tmp_path / "b.tar").read_bytes()


@pytest.mark.slow
def test_dry_run_compiles_packs_and_runs_the_cpu_twin(tmp_path):
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, str(SCRIPT), "--dry-run", "--models", "tiny", "--plans", "dense,deprune-bh",
                           "--batches", "1", "--bundle", str(tmp_path / "bundle"), "--build", str(tmp_path / "build"),
                           "--out", str(out), "--repeat", "3"], capture_output=True, text=True, cwd=tmp_path,
                          env=dict(os.environ), timeout=3000)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    budget = json.loads((tmp_path / "bundle" / "budget.json").read_text())
    assert budget["fits"]
    with tarfile.open(tmp_path / "bundle" / "bundle.tar.xz", "r:xz") as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())
        names = [p["name"] for p in manifest["packages"]]
        assert names == ["tiny__dense__b1", "tiny__deprune-bh__b1"]
        with tarfile.open(fileobj=tar.extractfile("tiny__deprune-bh__b1.tar")) as pkg:
            meta = json.loads(pkg.extractfile("meta.json").read())
    assert meta["device_code"]["arch"] == "sm_90" and meta["target"]["kind"] == "cuda"
    results = json.loads((out / "gpu_check.json").read_text())
    assert all(r["ok"] and r["rel_error"] < 1e-4 for r in results["packages"])
    layers = results["tables"]["layers"]
    assert len(layers) == 3 and all(r["tvm_dense_us"] and r["tvm_pruned_us"] and r["pytorch_us"] for r in layers)
    assert all(r["pair_tvm_pruned_us"] and r["pair_pytorch_us"] for r in layers)
    md = (out / "gpu_check.md").read_text()
    assert "### End to end" in md and "### Per depthwise layer" in md and "2 of 2 packages equal onnxruntime" in md
    for block in md.split("\n\n"):
        rows = [ln for ln in block.splitlines() if ln.startswith("|")]
        assert len({ln.count("|") for ln in rows}) <= 1, block
