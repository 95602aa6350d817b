"""n:m, filter / channel pruning and tile-aware units, each against a direct computation."""
import numpy as np
import pytest

from tvm_dsprune.pruning import nm, structured, tile_aware


@pytest.mark.parametrize("n,m", [(2, 4), (1, 4), (3, 8), (4, 4)])
def test_nm_holds_per_block(n, m):
    rng = np.random.default_rng(0)
    w = rng.standard_normal((24, 40))
    mask = nm.nm_mask(w, n, m)
    for r in range(24):
        for b in range(0, 40, m):
            blk, keep = np.abs(w[r, b:b + m]), mask[r, b:b + m]
            assert keep.sum() == n
            assert blk[keep].min() >= blk[~keep].max(initial=-1)


def test_nm_partial_tail_block():
    w = np.arange(1, 11, dtype=float)[None]            # K = 10: two blocks of 4 and a tail of 2
    mask = nm.nm_mask(w, 2, 4)
    assert mask.tolist() == [[False, False, True, True] * 2 + [True, True]]
    assert nm.nm_mask(w, 1, 4)[0, 8:].tolist() == [False, True]


def test_nm_rejects_bad_n():
    with pytest.raises(ValueError):
        nm.nm_mask(np.ones((2, 4)), 5, 4)


@pytest.mark.parametrize("norm", ["l1", "l2"])
def test_filter_pruning_zeroes_smallest_rows(norm):
    rng = np.random.default_rng(1)
    w = rng.standard_normal((50, 30)) * rng.uniform(0.1, 2, (50, 1))
    mask = structured.row_mask(w, 0.4, norm)
    rows = mask.all(axis=1)
    assert (~mask[~rows]).all()                         # a row is kept or removed whole
    assert (~rows).sum() == 20
    norms = np.abs(w).sum(1) if norm == "l1" else np.sqrt((w ** 2).sum(1))
    assert norms[~rows].max() <= norms[rows].min()


def test_channel_pruning_of_depthwise():
    rng = np.random.default_rng(2)
    w = rng.standard_normal((72, 1, 3, 3))
    mask = structured.channel_mask(w, 0.5, "l2")
    per_channel = mask.reshape(72, 9)
    assert set(per_channel.sum(1).tolist()) == {0, 9}
    assert (per_channel.sum(1) == 0).sum() == 36


@pytest.mark.parametrize("rows", [4, 16, 32])
@pytest.mark.parametrize("ratio", [0.3, 0.5, 0.9])
def test_tile_units_are_whole_and_smallest(rows, ratio):
    rng = np.random.default_rng(3)
    f, k = 96, 40
    w = rng.standard_normal((f, k))
    mask = tile_aware.tile_unit_mask(w, ratio, rows)
    units = mask.reshape(f // rows, rows, k)
    assert (units == units[:, :1]).all()                # a unit is removed whole
    norms = np.sqrt((w.reshape(f // rows, rows, k) ** 2).sum(1))
    kept = units[:, 0]
    assert norms[~kept].max() <= norms[kept].min()
    assert abs((1 - mask.mean()) - ratio) <= rows / (f * k) * rows + 1e-9


def test_tile_units_with_partial_last_block():
    w = np.random.default_rng(4).standard_normal((10, 8))
    mask = tile_aware.tile_unit_mask(w, 0.5, 4)        # blocks of 4, 4, 2 rows
    assert (mask[8:] == mask[8:9]).all() and (mask[:4] == mask[:1]).all()
    assert abs((1 - mask.mean()) - 0.5) < 0.1
