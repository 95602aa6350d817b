"""DCP matches a direct sort; BWT equalises kept columns across sub-GEMMs."""
import numpy as np
import pytest

from tvm_dsprune.pruning import dcp, dr


def dw_weight(c, k=3, seed=0):
    rng = np.random.default_rng(seed)
    # per-channel scales, as folded BatchNorm gives, so sub-GEMMs differ in magnitude
    return (rng.standard_normal((c, 1, k, k)) * rng.uniform(0.1, 3.0, (c, 1, 1, 1))).astype(np.float32)


@pytest.mark.parametrize("ratio", [0.0, 0.3, 0.5, 0.78, 0.9, 0.99])
@pytest.mark.parametrize("c,k", [(32, 3), (72, 5), (960, 3)])
def test_dcp_matches_direct_sort(ratio, c, k):
    w = dw_weight(c, k)
    mask = dcp.dcp_mask(w, ratio)
    n_prune = int(np.floor(ratio * w.size + 0.5))
    order = np.argsort(np.abs(w).reshape(-1), kind="stable")
    expect = np.ones(w.size, bool)
    expect[order[:n_prune]] = False
    np.testing.assert_array_equal(mask.reshape(-1), expect)
    assert mask.sum() == w.size - n_prune
    if 0 < n_prune < w.size:
        assert np.abs(w[~mask]).max() <= np.abs(w[mask]).min()


@pytest.mark.parametrize("ratio", [0.5, 0.78, 0.85])
@pytest.mark.parametrize("c,k,group", [(96, 3, 32), (144, 3, 32), (88, 7, 32), (240, 5, 16)])
def test_bwt_equal_kept_per_subgemm(ratio, c, k, group):
    w = dw_weight(c, k, seed=3)
    mask = dcp.bwt_mask(w, ratio, group)
    lay = dr.layout(w.shape, group)
    kept = dr.kept_per_subgemm(mask, group)
    full = [kept[g] for g in range(lay.num_subgemms) if lay.is_full(g)]
    assert len(set(full)) == 1
    assert full[0] == lay.columns(0) - int(np.floor(ratio * lay.columns(0) + 0.5))
    flat, absw = mask.reshape(-1), np.abs(w).reshape(-1)
    for sl in lay.column_slices():                      # inside each sub-GEMM: a magnitude cut
        if (~flat[sl]).any() and flat[sl].any():
            assert absw[sl][~flat[sl]].max() <= absw[sl][flat[sl]].min()


def test_dcp_is_unbalanced_and_bwt_is_not():
    """The point of BWT: DCP's densest sub-GEMM keeps more than the target; BWT's does not."""
    w = dw_weight(960, 3, seed=5)
    d = dr.kept_per_subgemm(dcp.dcp_mask(w, 0.78), 32)
    b = dr.kept_per_subgemm(dcp.bwt_mask(w, 0.78, 32), 32)
    assert d.max() > b.max()
    assert abs(int(d.sum()) - int(b.sum())) <= len(d)      # same total up to per-sub-GEMM rounding
