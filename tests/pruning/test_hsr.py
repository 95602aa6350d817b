"""HSR: full sub-GEMMs end on tile boundaries, the half with highest beta is over-aligned,
and the model's DW ratio stays near the target."""
import math

import numpy as np
import pytest

from tvm_dsprune.pruning import dcp, dr, hsr

# (C, k) of the DW layers of MobileNet-V2 and EfficientNet-B0
MOBILENET_V2 = [(32, 3), (96, 3), (144, 3), (144, 3), (192, 3), (192, 3), (192, 3), (384, 3), (384, 3),
                (384, 3), (384, 3), (576, 3), (576, 3), (576, 3), (960, 3), (960, 3), (960, 3)]
EFFICIENTNET_B0 = [(32, 3), (96, 3), (144, 3), (144, 5), (240, 5), (240, 3), (480, 3), (480, 3),
                   (480, 5), (672, 5), (672, 5), (672, 5), (1152, 5), (1152, 5), (1152, 5),
                   (1152, 5), (1152, 3)]


def make_layers(shapes, ratio, group=32, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for i, (c, k) in enumerate(shapes):
        w = (rng.standard_normal((c, 1, k, k)) * rng.uniform(0.2, 2, (c, 1, 1, 1))).astype(np.float32)
        out.append(hsr.HSRLayer(f"dw{i}", w, dcp.bwt_mask(w, ratio, group)))
    return out


@pytest.mark.parametrize("shapes", [MOBILENET_V2, EFFICIENTNET_B0])
@pytest.mark.parametrize("ratio", [0.5, 0.71, 0.78, 0.85])
def test_full_subgemms_on_tile_boundary_and_total_near_target(shapes, ratio):
    layers = make_layers(shapes, ratio)
    masks, decisions, pattern = hsr.recalibrate(layers, group=32, tile=32)
    total = pruned = 0
    for L, m, d in zip(layers, masks, decisions):
        lay = dr.layout(m.shape, 32)
        kept = dr.kept_per_subgemm(m, 32)
        for g in range(lay.num_subgemms):
            if lay.is_full(g):
                assert kept[g] % 32 == 0, (L.name, d)
        # no layer moves by more than one tile per sub-GEMM
        before = dr.kept_per_subgemm(L.mask, 32)
        assert np.all(np.abs(kept - before) < 32)
        assert kept.min() > 0
        total += m.size
        pruned += m.size - m.sum()
    # Each layer moves by less than one tile per sub-GEMM (a step of tile / (32 * taps) of its
    # ratio); over- and under-aligned halves cancel to within half a step.
    step = max(32 / (32 * k * k) for _, k in shapes)
    assert abs(pruned / total - ratio) <= step / 2
    n_u, n_o = (int(x) for x in pattern[:-1].split("u"))
    assert n_u == sum(d.pattern == "u" for d in decisions)
    assert n_o == sum(d.pattern == "o" for d in decisions)
    assert n_o == sum(d.pattern != "a" for d in decisions) // 2


def test_over_aligned_layers_have_the_highest_beta():
    layers = make_layers(EFFICIENTNET_B0, 0.78)
    _, decisions, _ = hsr.recalibrate(layers, group=32, tile=32)
    over = [d.beta for d in decisions if d.pattern == "o"]
    under = [d.beta for d in decisions if d.pattern == "u" and d.kept_before >= 32]
    assert over and min(over) >= max(under, default=-math.inf)


def test_alpha_table_decides_the_ranking():
    layers = make_layers(MOBILENET_V2, 0.78)
    _, base, _ = hsr.recalibrate(layers, group=32, tile=32)
    victim = next(i for i, d in enumerate(base) if d.pattern == "u" and d.kept_before >= 32)
    table = {layers[victim].name: 1e6}
    _, decisions, _ = hsr.recalibrate(layers, group=32, tile=32, alpha_table=table)
    assert decisions[victim].pattern == "o"
    assert decisions[victim].alpha == 1e6


def test_under_alignment_restores_the_largest_pruned_weights():
    layers = make_layers([(96, 3)], 0.8)            # one layer: it is the bottom "half"
    masks, decisions, pattern = hsr.recalibrate(layers, group=32, tile=32)
    assert pattern == "1u0o"
    L, m = layers[0], masks[0]
    restored = m & ~L.mask
    still_pruned = ~m
    assert restored.any()
    for g in range(3):
        sl = slice(g * 32, (g + 1) * 32)
        r, p = np.abs(L.weight[sl][restored[sl]]), np.abs(L.weight[sl][still_pruned[sl]])
        if r.size and p.size:
            assert r.min() >= p.max()


def test_layer_below_one_tile_is_never_emptied():
    layers = make_layers([(32, 3), (32, 3)], 0.95)  # 288 cols at 95%: 14 kept < one tile
    masks, decisions, _ = hsr.recalibrate(layers, group=32, tile=32)
    assert all(d.pattern == "u" for d in decisions)
    assert all(dr.kept_per_subgemm(m, 32).tolist() == [32] for m in masks)


def test_cost_model_alpha():
    assert hsr.cost_model_alpha(63, 32, 1.0) == pytest.approx(3 / 2 - 1)
    assert hsr.cost_model_alpha(10, 32, 1.0) == math.inf
