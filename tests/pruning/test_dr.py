"""DR layout: sub-GEMM shapes, and the sub-GEMM matrices reproduce torch's depthwise conv."""
import numpy as np
import pytest
import torch

from tvm_dsprune.pruning import dr


@pytest.mark.parametrize("c,group,expect", [(32, 32, [288]), (72, 32, [288, 288, 72]),
                                            (88, 32, [288, 288, 216]), (16, 32, [144]), (960, 32, [288] * 30)])
def test_layout_columns(c, group, expect):
    lay = dr.layout((c, 1, 3, 3), group)
    assert [lay.columns(g) for g in range(lay.num_subgemms)] == expect
    assert lay.num_subgemms == -(-c // group)
    assert [lay.is_full(g) for g in range(lay.num_subgemms)][-1] == (c % group == 0)


def test_layout_rejects_non_depthwise():
    with pytest.raises(ValueError):
        dr.layout((8, 2, 3, 3), 32)


@pytest.mark.parametrize("c,k,stride", [(40, 3, 1), (72, 5, 2), (33, 7, 1)])
def test_subgemms_equal_depthwise_conv(c, k, stride):
    """Each sub-GEMM times the im2col of its channels is the depthwise conv of those channels."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, c, 11, 11)).astype(np.float32)
    w = rng.standard_normal((c, 1, k, k)).astype(np.float32)
    pad = k // 2
    ref = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w), stride=stride,
                                     padding=pad, groups=c).numpy()[0]
    cols = torch.nn.functional.unfold(torch.from_numpy(x), k, padding=pad, stride=stride).numpy()[0]
    cols = cols.reshape(c, k * k, -1)                                    # rows ordered (c, t)
    lay = dr.layout(w.shape, 32)
    for g in range(lay.num_subgemms):
        chans = lay.channel_range(g)
        out = dr.subgemm_matrix(w, 32, g) @ cols[chans.start:chans.stop].reshape(-1, cols.shape[-1])
        np.testing.assert_allclose(out.reshape(len(chans), *ref.shape[1:]), ref[chans.start:chans.stop],
                                   rtol=1e-5, atol=1e-5)


def test_kept_counts_match_brute_force():
    rng = np.random.default_rng(1)
    mask = rng.random((72, 1, 3, 3)) > 0.6
    kept = dr.kept_per_subgemm(mask, 32)
    brute = [int(mask[g * 32:(g + 1) * 32].sum()) for g in range(3)]
    assert kept.tolist() == brute
    np.testing.assert_allclose(dr.subgemm_ratios(mask, 32), 1 - np.array(brute) / np.array([288, 288, 72]))
