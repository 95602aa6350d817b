"""Unaligned group selection: optimal equals brute force and an ILP; greedy and aligned never beat it."""
import itertools

import numpy as np
import pytest
from scipy.optimize import Bounds, LinearConstraint, milp

from tvm_dsprune.pruning import groups


def ilp_optimum(v, g, m):
    """max sum of chosen windows, windows of width g in each row may not overlap, exactly m."""
    nb, s = v.shape
    k = s + g - 1
    a = np.zeros((nb * k, nb * s))
    for b in range(nb):
        for st in range(s):
            a[b * k + st:b * k + st + g, b * s + st] = 1
    res = milp(-v.reshape(-1), integrality=np.ones(nb * s), bounds=Bounds(0, 1),
               constraints=[LinearConstraint(a, 0, 1), LinearConstraint(np.ones((1, nb * s)), m, m)])
    assert res.success
    return -res.fun


def brute_optimum(v, g, m):
    nb, s = v.shape
    windows = [(b, st) for b in range(nb) for st in range(s)]
    best = -np.inf
    for combo in itertools.combinations(windows, m):
        ok = all(b1 != b2 or abs(s1 - s2) >= g for (b1, s1), (b2, s2) in itertools.combinations(combo, 2))
        if ok:
            best = max(best, sum(v[b, st] for b, st in combo))
    return best


def check_valid(blocks, starts, v, g, m):
    assert len(blocks) == m
    nb, s = v.shape
    occ = np.zeros((nb, s + g - 1), int)
    for b, st in zip(blocks, starts):
        assert 0 <= st <= s - 1
        occ[b, st:st + g] += 1
    assert occ.max(initial=0) <= 1


def random_case(rng, i):
    f, k = int(rng.integers(1, 7)), int(rng.integers(2, 16))
    gr, gc = int(rng.integers(1, min(f, 3) + 1)), int(rng.integers(1, min(k, 5) + 1))
    kind = i % 3
    if kind == 0:
        w = rng.standard_normal((f, k))
    elif kind == 1:
        w = rng.integers(0, 3, (f, k)).astype(float)       # many ties
    else:
        w = rng.standard_normal((f, k)) * (rng.random((f, k)) > 0.5)   # many zeros
    v = groups.window_values(np.abs(w), (gr, gc))
    m = int(rng.integers(0, v.shape[0] * (k // gc) + 1))
    return v, gc, m


def test_optimal_equals_ilp_on_random_matrices():
    rng = np.random.default_rng(0)
    for i in range(250):
        v, g, m = random_case(rng, i)
        b, s = groups.select_optimal(v, g, m)
        check_valid(b, s, v, g, m)
        assert v[b, s].sum() == pytest.approx(ilp_optimum(v, g, m), rel=1e-9, abs=1e-9), (i, v, g, m)


def test_optimal_equals_brute_force_on_tiny_matrices():
    rng = np.random.default_rng(1)
    for i in range(120):
        nb, s_len, g = int(rng.integers(1, 3)), int(rng.integers(2, 8)), int(rng.integers(1, 4))
        k = s_len + g - 1
        w = rng.integers(0, 5, (nb, k)).astype(float) if i % 2 else rng.random((nb, k))
        v = groups.window_values(w, (1, g))
        m = int(rng.integers(0, nb * (k // g) + 1))
        b, s = groups.select_optimal(v, g, m)
        check_valid(b, s, v, g, m)
        assert v[b, s].sum() == pytest.approx(brute_optimum(v, g, m), abs=1e-9)


def test_greedy_and_aligned_never_beat_optimal():
    rng = np.random.default_rng(2)
    for i in range(200):
        v, g, m = random_case(rng, i)
        opt = v[groups.select_optimal(v, g, m)].sum()
        for select in (groups.select_greedy, groups.select_aligned):
            b, s = select(v, g, m)
            assert len(b) <= m
            check_valid(b, s, v, g, len(b))
            assert v[b, s].sum() <= opt + 1e-9


def test_aligned_starts_are_aligned():
    v = groups.window_values(np.random.default_rng(3).random((6, 17)), (1, 4))
    _, s = groups.select_aligned(v, 4, 10)
    assert np.all(s % 4 == 0)


@pytest.mark.parametrize("selection", groups.SELECTIONS)
@pytest.mark.parametrize("shape", [(1, 4), (4, 4), (2, 3)])
def test_group_mask_counts_and_structure(selection, shape):
    rng = np.random.default_rng(4)
    w = rng.standard_normal((64, 96))
    mask = groups.group_mask(w, 0.9, shape, selection)
    gr, gc = shape
    m = groups.groups_to_keep(64, 96, 0.9, shape)
    if selection == "greedy":
        assert mask.sum() <= m * gr * gc
    else:
        assert mask.sum() == m * gr * gc
    blocks = mask.reshape(64 // gr, gr, 96)
    assert (blocks == blocks[:, :1]).all()              # every row of a block is the same
    for row in blocks[:, 0]:                            # kept runs decompose into gc-wide groups
        runs = np.diff(np.flatnonzero(np.diff(np.concatenate([[0], row.astype(int), [0]]))))[::2]
        assert all(r % gc == 0 for r in runs)


@pytest.mark.parametrize("selection", groups.SELECTIONS)
def test_balanced_keeps_the_same_number_per_block(selection):
    rng = np.random.default_rng(5)
    w = rng.standard_normal((32, 64)) * rng.uniform(0.1, 3, (32, 1))
    mask = groups.group_mask(w, 0.75, (1, 4), selection, balanced=True)
    per_row = mask.sum(axis=1)
    assert len(set(per_row.tolist())) == 1


def test_balanced_optimal_is_optimal_per_block():
    rng = np.random.default_rng(6)
    for _ in range(30):
        w = rng.random((3, 11))
        v = groups.window_values(w, (1, 3))
        b, s = groups.select_exact_k(v, 3, 2)
        for blk in range(3):
            sel = b == blk
            assert sel.sum() == 2
            assert v[blk, s[sel]].sum() == pytest.approx(brute_optimum(v[blk:blk + 1], 3, 2))


def test_group_that_does_not_fit():
    with pytest.raises(ValueError, match="does not fit"):
        groups.group_mask(np.ones((3, 8)), 0.5, (4, 4))
    with pytest.raises(ValueError, match="does not fit"):
        groups.group_mask(np.ones((8, 3)), 0.5, (1, 4))
