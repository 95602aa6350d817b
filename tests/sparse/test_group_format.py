"""The group-sparse format of a pruned weight matrix: covers, dropped rows, the cheapest shape."""
import numpy as np
import pytest

from tvm_dsprune.pruning import groups, nm, structured
from tvm_dsprune.sparse import group_format


def masked(f, k, kind, seed=0):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((f, k)).astype("float32")
    if kind == "group1x4":
        return w * groups.group_mask(w, 0.85, (1, 4), "optimal")
    if kind == "group4x4":
        return w * groups.group_mask(w, 0.85, (4, 4), "optimal")
    if kind == "filter":
        return w * structured.row_mask(w, 0.5)
    if kind == "nm":
        return w * nm.nm_mask(w, 2, 4)
    raise ValueError(kind)


@pytest.mark.parametrize("kind", ["group1x4", "group4x4", "filter", "nm"])
@pytest.mark.parametrize("shape", [(1, 1), (1, 4), (4, 1), (4, 4), (1, 8)])
def test_cover_is_exact_for_any_mask_and_group(kind, shape):
    w = masked(37, 50, kind, seed=len(kind))
    fmt = group_format.cover(w, shape)
    np.testing.assert_array_equal(fmt.to_dense(), w)
    assert fmt.stored * shape[0] * shape[1] >= np.count_nonzero(w)
    assert np.all(fmt.group_col + shape[1] <= w.shape[1]) and np.all(fmt.group_col >= 0)


def test_a_group_mask_is_covered_with_exactly_its_groups():
    """Unaligned 1x4 groups kept by group pruning are disjoint runs of 4: the cover stores each
    once and computes no zero."""
    w = masked(64, 96, "group1x4")
    fmt = group_format.cover(w, (1, 4))
    assert fmt.stored * 4 == np.count_nonzero(w)
    assert fmt.density == pytest.approx(np.count_nonzero(w) / w.size)


def test_rows_filter_pruning_removed_are_not_stored():
    w = masked(32, 48, "filter")
    fmt = group_format.cover(w, (4, 16))
    dropped = fmt.row_pos == fmt.kept_rows
    assert dropped.sum() == 16 and np.all(~w[dropped].any(axis=1)) and np.all(w[~dropped].any(axis=1))
    assert fmt.kept_rows == 16 and fmt.stored == 4 * 3      # 16 kept rows in 4 dense 4-row blocks
    assert fmt.num_blocks == 5                               # and an empty block for the zero row
    np.testing.assert_array_equal(fmt.to_dense(), w)


def test_choose_shape_picks_the_group_the_mask_was_pruned_with():
    w = masked(64, 96, "group4x4")
    fmt = group_format.choose_shape(w, [(1, 1), (1, 4), (4, 1), (4, 4)], group_overhead=2.0)
    assert (fmt.gr, fmt.gc) == (4, 4) and fmt.density == pytest.approx(np.count_nonzero(w) / w.size)
    shapes = [(1, 1), (1, 4), (4, 4)]
    w = masked(64, 96, "nm")                            # 2:4: the cheapest cover wins, zeros and all
    best = group_format.choose_shape(w, shapes, 2.0)
    assert group_format.cost(best, 2.0) == min(group_format.cost(group_format.cover(w, s), 2.0) for s in shapes)
    rng = np.random.default_rng(5)                      # scattered 95%: one group per weight (g = 1)
    w = (rng.standard_normal((64, 96)) * (rng.random((64, 96)) > 0.95)).astype("float32")
    best = group_format.choose_shape(w, shapes, 2.0)
    assert (best.gr, best.gc) == (1, 1)


def test_all_zero_matrix():
    fmt = group_format.cover(np.zeros((8, 12), "float32"), (1, 4))
    assert fmt.stored == 0 and fmt.kept_rows == 0
    np.testing.assert_array_equal(fmt.to_dense(), np.zeros((8, 12)))


@pytest.mark.parametrize("compact", [True, False])
def test_group_arrays_are_padded_to_a_power_of_two_that_no_block_reads(compact):
    """Two weights of one plan whose stored counts differ a little (here: folded constant
    channels empty a few groups) get arrays of one length, so sparse kernels of one signature."""
    w = masked(48, 64, "group1x4", seed=3)
    folded = w.copy()
    folded[:, :6] = 0
    a, b = (group_format.cover(m, (1, 4), compact) for m in (w, folded))
    assert b.stored < a.stored
    for fmt, m in ((a, w), (b, folded)):
        n = fmt.group_val.shape[0]
        assert n == fmt.group_col.shape[0] and n & (n - 1) == 0 and fmt.stored <= n < 2 * fmt.stored
        assert fmt.block_ptr[:, 1].max() == fmt.stored               # the padding is never pointed at
        assert not fmt.group_val[fmt.stored:].any()
        np.testing.assert_array_equal(fmt.to_dense(), m)
    assert a.group_val.shape == b.group_val.shape
