"""Workload keys of sparse kernels: a fused sparse kernel's parameters have shapes only (the
pattern is in the argument values bound in `main`), and the format arrays' lengths (stored
groups / columns) are set by the plan, so records tuned on one pruned model serve another model
pruned with the same plan: its sparse layers get the tuned schedules, and compute right on their
own format arrays."""
import numpy as np
import pytest

from conftest import run_ort
from tuning_helpers import write_database
from tvm_dsprune import zoo
from tvm_dsprune.build.compile import compile
from tvm_dsprune.pruning.onnx_prune import prune
from tvm_dsprune.runtime.session import LoadedModel

pytestmark = pytest.mark.slow


def kernel_form(layer: dict) -> str:
    """"DR" or the group shape ("groups 1x4") of a sparse layer in the compile report."""
    return layer["format"].split(":")[0].split(" g")[0] if layer["decision"] == "sparse" else layer["decision"]


def test_records_of_one_pruned_model_serve_another_pruned_the_same_way(zoo_onnx, tmp_path):
    models = []
    for seed in (0, 1):                      # other weights: other sparsity patterns
        dense = zoo_onnx("tiny") if seed == 0 else zoo.export("tiny", tmp_path / "tiny_s1.onnx", seed=1)
        models.append(tmp_path / f"tiny_s{seed}_cs.onnx")
        prune(dense, models[-1], preset="cpu-sparse", target="llvm")
    sparse_tasks = write_database(tmp_path / "db", models[0], sparse_only=True)
    assert len(sparse_tasks) >= 4

    tuned_on = {r["name"]: kernel_form(r) for r in compile(models[0], "llvm", tmp_path / "a.tar").report["layers"]}
    result = compile(models[1], "llvm", tmp_path / "b.tar", tuning_records=tmp_path / "db")
    sparse_layers = [r for r in result.report["layers"] if r["decision"] == "sparse"]
    # A layer's form (DR, or the group shape the cost model chose) can differ between the two:
    # constant channels folded into a layer zero its columns, and with fewer weights left a
    # smaller group may cover them cheaper. Every layer of the same form shares the records.
    same = [r for r in sparse_layers if tuned_on.get(r["name"]) == kernel_form(r)]
    assert len(same) >= 0.8 * len(sparse_layers) and all(r["schedule"] == "tuned" for r in same), \
        [(r["name"], r["format"], r["schedule"]) for r in sparse_layers]
    x = np.random.default_rng(2).standard_normal((1, 3, 32, 32)).astype("float32")
    ref = run_ort(models[1], x)
    y = LoadedModel(result.package)({"input": x})["output"]
    assert np.abs(y - ref).max() / np.abs(ref).max() < 1e-4
