"""run's comparison with onnxruntime judges as numpy.allclose does, and its inputs are cast
only within a kind, with a note."""
import numpy as np
import pytest

from tvm_dsprune.errors import InputError
from tvm_dsprune.frontend.model_io import TensorInfo
from tvm_dsprune.runtime.run import compare, load_inputs


def test_the_verdict_is_numpy_allclose():
    rng = np.random.default_rng(0)
    ref = rng.standard_normal((4, 50)).astype(np.float32)
    for scale in (1e-7, 1e-6, 1e-5, 1e-4, 1e-3):
        y = ref + scale * rng.standard_normal(ref.shape).astype(np.float32)
        c = compare("y", y, ref)
        assert c.ok == np.allclose(y, ref, rtol=1e-4, atol=1e-5)
        assert c.mismatched == int((~np.isclose(y, ref, rtol=1e-4, atol=1e-5)).sum())
        assert c.max_abs == pytest.approx(float(np.abs(y.astype(np.float64) - ref).max()))


def test_saturated_outputs_do_not_cry_wolf():
    ref = np.zeros((1, 10), np.float32)
    y = np.full((1, 10), 1e-17, np.float32)
    c = compare("y", y, ref)
    assert c.ok and c.max_rel == 0.0             # no value of the reference exceeds atol


def test_a_large_relative_error_fails():
    ref = np.array([1.0, 2.0, 3.0], np.float32)
    c = compare("y", ref * 0.001, ref)             # relative error 0.999
    assert not c.ok and c.mismatched == 3 and c.max_rel == pytest.approx(0.999)
    assert c.worst[0] == (2,)                     # the largest excess over the tolerance


def test_nan_fails_unless_the_reference_is_nan_there():
    ref = np.array([1.0, np.nan, 3.0], np.float32)
    assert compare("y", ref.copy(), ref).ok
    y = np.array([np.nan, np.nan, 3.0], np.float32)
    c = compare("y", y, ref)
    assert not c.ok and c.mismatched == 1 and np.isnan(c.max_abs)


def test_inputs_of_the_same_kind_are_cast_with_a_note(tmp_path):
    np.savez(tmp_path / "in.npz", x=np.ones((2, 3), np.float64), n=np.arange(4, dtype=np.int64))
    notes = []
    out = load_inputs(tmp_path / "in.npz", [TensorInfo("x", (2, 3), "float32"), TensorInfo("n", (4,), "int32")],
                      notes)
    assert out["x"].dtype == np.float32 and out["n"].dtype == np.int32
    assert len(notes) == 1 and "'x' from float64 to float32" in notes[0] and "'n' from int64 to int32" in notes[0]


def test_inputs_of_another_kind_are_refused(tmp_path):
    np.savez(tmp_path / "in.npz", n=np.full(4, 0.5))
    with pytest.raises(InputError, match="inputs file .*'n' is float64, the model takes int32"):
        load_inputs(tmp_path / "in.npz", [TensorInfo("n", (4,), "int32")])
