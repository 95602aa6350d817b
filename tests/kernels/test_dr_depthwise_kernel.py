"""The DR block-sparse depthwise kernel against torch's conv2d, across the shapes the issue names."""
import numpy as np
import pytest
import torch

from kernel_harness import run_depthwise
from tvm_dsprune.pruning import dcp, dr


def reference(x, w, stride, padding, dilation):
    pt, pl, pb, pr = padding
    xp = torch.nn.functional.pad(torch.from_numpy(x), (pl, pr, pt, pb))
    return torch.nn.functional.conv2d(xp, torch.from_numpy(w), stride=stride, dilation=dilation,
                                      groups=w.shape[0]).numpy()


def case(c, k, h, ratio, seed=0):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((c, 1, k, k)).astype("float32")
    if ratio:
        w = w * dcp.bwt_mask(w, ratio, 16)
    x = rng.standard_normal((1, c, h, h)).astype("float32")
    return x, w


@pytest.mark.parametrize("c", [72, 88, 144, 960])
@pytest.mark.parametrize("k,stride", [(3, 1), (3, 2), (5, 1), (5, 2), (7, 1)])
@pytest.mark.parametrize("form", ["cpu", "gpu"])
def test_matches_torch(c, k, stride, form):
    x, w = case(c, k, 9 if c == 960 else 14, 0.78)
    p = k // 2
    y, fmt = run_depthwise(x, w, (stride, stride), (p, p, p, p), local=form == "gpu")
    ref = reference(x, w, (stride, stride), (p, p, p, p), (1, 1))
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5)
    assert fmt.nnz == np.count_nonzero(w)


@pytest.mark.parametrize("padding,dilation", [((0, 0, 0, 0), (1, 1)), ((2, 1, 0, 2), (1, 1)), ((2, 2, 2, 2), (2, 2))])
def test_padding_and_dilation(padding, dilation):
    x, w = case(40, 3, 11, 0.5)
    y, _ = run_depthwise(x, w, (1, 1), padding, dilation)
    np.testing.assert_allclose(y, reference(x, w, (1, 1), padding, dilation), rtol=1e-5, atol=1e-5)


def test_partial_last_subgemm_and_subgemms_pruned_0_50_100_percent():
    """C = 40 with 16-channel sub-GEMMs: two full ones and a partial one of 8 channels. The
    first keeps every column, the second half of them, the third none."""
    rng = np.random.default_rng(3)
    w = rng.standard_normal((40, 1, 3, 3)).astype("float32")
    w[16:32] *= dcp.bwt_mask(w[16:32], 0.5, 16)
    w[32:] = 0
    x = rng.standard_normal((1, 40, 12, 12)).astype("float32")
    y, fmt = run_depthwise(x, w, group=16, k_tile=4)
    assert dr.kept_per_subgemm(w != 0, 16).tolist() == [144, 72, 0]
    assert fmt.kept.tolist() == [144, 72, 0] and fmt.kmax == 144
    np.testing.assert_allclose(y, reference(x, w, (1, 1), (1, 1, 1, 1), (1, 1)), rtol=1e-5, atol=1e-5)
    assert np.all(y[:, 32:] == 0)


def test_unscheduled_definition_is_the_same_function():
    x, w = case(24, 5, 10, 0.6)
    y_s, _ = run_depthwise(x, w, (2, 2), (2, 2, 2, 2), schedule=True)
    y_u, _ = run_depthwise(x, w, (2, 2), (2, 2, 2, 2), schedule=False)
    np.testing.assert_allclose(y_s, y_u, rtol=1e-6, atol=1e-6)
