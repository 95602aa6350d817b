"""The depthwise plane kernel (the DR kernel's CPU form with every tap) on AVX-512: an output row
that is not a whole number of 16-lane vectors (28, 14, 7 pixels) is written without a
predicated tail. Such a tail is scalarised by TVM and re-vectorised by LLVM into gathers and
scatters across the unrolled output rows, which ran 2-3x slower than onnxruntime's layer."""
from __future__ import annotations

import re

import numpy as np
import pytest

from conftest import depthwise_relu6_onnx as dw_relu6, run_ort
from tvm_dsprune.build.compile import compile
from tvm_dsprune.relax.lowering import lower
from tvm_dsprune.runtime.session import LoadedModel

AVX512 = "llvm -mcpu=znver4 -num-cores=2"


def kernel_asm(model, target) -> str:
    import tvm

    low = lower(model, target, sparse="off", stop_after="schedule")
    names = [g.name_hint for g in low.mod.get_global_vars() if "dw_planes" in g.name_hint]
    assert names, "the layer did not take the plane kernel"
    mod = tvm.IRModule({"k": low.mod[names[0]].with_attr("global_symbol", "k")})
    tgt = low.target.tvm()
    with tgt:
        lib = tvm.compile(mod, target=tgt)
    return (lib.mod if hasattr(lib, "mod") else lib).inspect_source("asm")


@pytest.mark.parametrize("c,hw,stride,k", [(48, 28, 1, 3), (40, 28, 1, 5), (32, 56, 2, 3), (64, 112, 2, 3)])
def test_odd_row_width_has_no_gathers_on_avx512(tmp_path, c, hw, stride, k):
    asm = kernel_asm(dw_relu6(tmp_path / "dw.onnx", c, hw, stride, k), AVX512)
    assert re.search(r"\bvfmadd\w*ps\s+.*%zmm", asm), "not an AVX-512 build"
    assert not re.search(r"\bv(gather|scatter)", asm)


@pytest.mark.parametrize("c,hw,stride,k", [
    (19, 28, 1, 3), (24, 14, 1, 5), (17, 7, 1, 3), (33, 30, 2, 3),
    # the row copy's last vector overlapping the one before: at an odd offset for stride 2
    (21, 15, 2, 3), (13, 9, 1, 3), (11, 5, 1, 3), (10, 8, 2, 3), (6, 7, 2, 3), (9, 3, 1, 3),
])
def test_plane_kernel_equals_onnxruntime(tmp_path, c, hw, stride, k):
    from tvm_dsprune import schedules
    import dataclasses

    spec = schedules.lookup("llvm")
    always = dataclasses.replace(spec, cost=dataclasses.replace(spec.cost, dw_planes_from=1))
    model = dw_relu6(tmp_path / "dw.onnx", c, hw, stride, k, seed=c)
    result = compile(model, always, tmp_path / "dw.tar")
    assert "every tap" in result.report["layers"][0]["format"]
    x = np.random.default_rng(1).standard_normal((1, c, hw, hw)).astype(np.float32)
    y = LoadedModel(result.package)({"x": x})["z"]
    ref = run_ort(model, x)
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-5 * np.abs(ref).max())
