"""The DR block-sparse format of a pruned depthwise weight: what it stores and that it is exact."""
import numpy as np
import pytest

from tvm_dsprune.pruning import dcp
from tvm_dsprune.sparse import dr_format


def pruned(c, k, ratio, seed=0):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((c, 1, k, k)).astype("float32")
    return w * dcp.bwt_mask(w, ratio, 16) if ratio else w


def test_format_roundtrip_and_tile_padding():
    w = pruned(72, 3, 0.8)
    fmt = dr_format.from_weight(w, 32, 32)
    np.testing.assert_array_equal(fmt.to_dense(), w)
    assert fmt.kmax % 32 == 0 and fmt.kmax >= fmt.kept.max()
    assert np.all(fmt.col_val.reshape(fmt.num_subgemms, -1)[:, fmt.kept.max():] == 0)


@pytest.mark.parametrize("c,k,group", [(40, 3, 16), (144, 5, 32), (7, 7, 4)])
def test_every_channel_walks_exactly_its_kept_taps(c, k, group):
    w = pruned(c, k, 0.6, seed=c)
    fmt = dr_format.from_weight(w, group, 4)
    taps, vals = fmt.col_tap.reshape(-1), fmt.col_val.reshape(-1)
    flat = w.reshape(c, -1)
    for ch in range(c):
        s, e = fmt.chan_ptr[ch]
        assert sorted(taps[s:e].tolist()) == np.flatnonzero(flat[ch]).tolist()
        np.testing.assert_array_equal(vals[s:e], flat[ch, taps[s:e]])
    assert fmt.nnz == np.count_nonzero(w) and fmt.density == pytest.approx(np.count_nonzero(w) / w.size)
    assert fmt.num_subgemms == -(-c // group)


def test_an_empty_weight_stores_one_padding_tile():
    fmt = dr_format.from_weight(np.zeros((16, 1, 3, 3), "float32"), 16, 4)
    assert fmt.nnz == 0 and fmt.kmax == 4 and np.all(fmt.chan_ptr[:, 0] == fmt.chan_ptr[:, 1])


def test_not_a_depthwise_weight():
    with pytest.raises(ValueError, match="depthwise weight"):
        dr_format.from_weight(np.zeros((4, 2, 3, 3)), 16)
