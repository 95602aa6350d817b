"""The fused depthwise + group-sparse 1x1 kernel against torch (depthwise conv, bias, activation,
then the 1x1 conv with the pruned weight), across kernel sizes, strides, odd channel counts and
image sizes, activations and group shapes."""
import numpy as np
import pytest
import torch

from kernel_harness import run_dw_pointwise
from tvm_dsprune.pruning import dcp


def reference(x, w, bias, act, pw, stride, padding, dilation):
    pt, pl, pb, pr = padding
    xp = torch.nn.functional.pad(torch.from_numpy(x), (pl, pr, pt, pb))
    y = torch.nn.functional.conv2d(xp, torch.from_numpy(w), stride=stride, dilation=dilation, groups=w.shape[0])
    y = y + torch.from_numpy(bias)[None, :, None, None]
    if act == "relu":
        y = torch.relu(y)
    elif act == "relu6":
        y = torch.clamp(y, 0, 6)
    return torch.nn.functional.conv2d(y, torch.from_numpy(pw)[:, :, None, None]).numpy()


def case(c, f, k, h, group_shape, seed=0):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((c, 1, k, k)).astype("float32")
    w = w * dcp.bwt_mask(w, 0.8, 16)
    x = rng.standard_normal((1, c, h, h)).astype("float32")
    bias = rng.standard_normal(c).astype("float32")
    pw = rng.standard_normal((f, c)).astype("float32")
    gr, gc = group_shape
    keep = rng.random((-(-f // gr), -(-c // gc))) < 0.2                  # 80% of the groups pruned
    mask = np.kron(keep, np.ones((gr, gc)))[:f, :c]
    return x, w, bias, (pw * mask).astype("float32")


@pytest.mark.parametrize("c,f,h", [(37, 24, 14), (72, 40, 13), (144, 24, 28), (96, 160, 7)])
@pytest.mark.parametrize("k,stride", [(3, 1), (3, 2), (5, 1), (5, 2), (7, 1)])
def test_matches_torch(c, f, h, k, stride):
    x, w, bias, pw = case(c, f, k, h, (1, 4))
    p = k // 2
    y = run_dw_pointwise(x, w, bias, "relu6", pw, (1, 4), (stride, stride), (p, p, p, p))
    ref = reference(x, w, bias, "relu6", pw, (stride, stride), (p, p, p, p), (1, 1))
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("act", ["none", "relu", "relu6"])
@pytest.mark.parametrize("group_shape", [(1, 4), (4, 1), (1, 1), (4, 4)])
def test_activations_and_group_shapes(act, group_shape):
    x, w, bias, pw = case(50, 36, 3, 12, group_shape, seed=1)
    y = run_dw_pointwise(x, w, bias, act, pw, group_shape)
    np.testing.assert_allclose(y, reference(x, w, bias, act, pw, (1, 1), (1, 1, 1, 1), (1, 1)), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("padding,dilation,band", [((0, 0, 0, 0), (1, 1), 1), ((2, 1, 0, 2), (1, 1), 2),
                                                   ((2, 2, 2, 2), (2, 2), 4), ((1, 1, 1, 1), (1, 1), 3)])
def test_padding_dilation_and_bands(padding, dilation, band):
    x, w, bias, pw = case(40, 20, 3, 12, (1, 4), seed=2)
    y = run_dw_pointwise(x, w, bias, "relu", pw, (1, 4), (1, 1), padding, dilation, band=band)
    np.testing.assert_allclose(y, reference(x, w, bias, "relu", pw, (1, 1), padding, dilation), rtol=1e-4, atol=1e-4)


def test_112_wide_rows_split_into_register_tiles():
    x, w, bias, pw = case(16, 8, 3, 112, (1, 4), seed=3)
    y = run_dw_pointwise(x, w, bias, "relu6", pw, (1, 4))
    np.testing.assert_allclose(y, reference(x, w, bias, "relu6", pw, (1, 1), (1, 1, 1, 1), (1, 1)), rtol=1e-4, atol=1e-4)
