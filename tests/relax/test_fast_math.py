"""The CPU legalization of exp and sigmoid against float64 numpy, across the whole float32 range
a network produces (and beyond it, where the results saturate)."""
import numpy as np
import pytest
import tvm
from tvm import relax
from tvm.script import relax as R

from tvm_dsprune.relax.fast_math import legalize_map

TARGET = tvm.target.Target("llvm")


def run_legalized(op, x):
    bb = relax.BlockBuilder()
    arg = relax.Var("x", R.Tensor(x.shape, str(x.dtype)))
    with bb.function("main", [arg]):
        with bb.dataflow():
            out = bb.emit_output(op(arg))
        bb.emit_func_output(out)
    mod = relax.transform.LegalizeOps(legalize_map(TARGET))(bb.get())
    names = [gv.name_hint for gv in mod.get_global_vars()]
    vm = relax.VirtualMachine(tvm.compile(mod, target=TARGET), tvm.cpu())
    return vm["main"](tvm.runtime.tensor(x)).numpy(), names


def sweep(low, high, n=200_001, dtype="float32"):
    rng = np.random.default_rng(0)
    return np.concatenate([np.linspace(low, high, n), rng.normal(0, 4, n)]).astype(dtype)


def test_sigmoid_within_a_few_roundings_everywhere():
    x = sweep(-120, 120)
    got, names = run_legalized(relax.op.sigmoid, x)
    assert "fast_sigmoid" in names
    ref = 1 / (1 + np.exp(-x.astype(np.float64)))
    normal = ref > np.finfo(np.float32).tiny             # below it float32 itself is denormal
    assert np.max(np.abs(got[normal] - ref[normal]) / ref[normal]) < 1e-6
    assert np.all(np.abs(got[~normal] - ref[~normal]) < 1e-37)     # saturated: about 0
    assert np.all((got >= 0) & (got <= 1))


def test_silu_as_a_network_writes_it():
    x = sweep(-30, 30)
    got, _ = run_legalized(lambda a: relax.op.multiply(a, relax.op.sigmoid(a)), x)
    ref = x / (1 + np.exp(-x.astype(np.float64)))
    assert np.max(np.abs(got - ref) / np.maximum(np.abs(ref), 1e-30)) < 1e-6


def test_exp_relative_error_and_saturation():
    x = sweep(-87, 88)
    got, names = run_legalized(relax.op.exp, x)
    assert "fast_exp" in names
    ref = np.exp(x.astype(np.float64))
    assert np.max(np.abs(got - ref) / ref) < 1e-6
    big, _ = run_legalized(relax.op.exp, np.array([100.0, -100.0, 0.0], "float32"))
    assert np.isfinite(big[0]) and big[0] > 1e38 and 0 <= big[1] < 1e-37 and big[2] == 1.0


@pytest.mark.parametrize("dtype", ["float64", "float16"])
def test_other_dtypes_keep_topi(dtype):
    x = sweep(-10, 10, n=1001, dtype=dtype)
    got, names = run_legalized(relax.op.sigmoid, x)
    assert "fast_sigmoid" not in names
    ref = 1 / (1 + np.exp(-x.astype(np.float64)))
    assert np.max(np.abs(got - ref)) < (1e-3 if dtype == "float16" else 1e-12)
