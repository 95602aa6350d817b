"""The group-sparse dense kernel (1x1 conv and dense layer) against numpy."""
import numpy as np
import pytest

from kernel_harness import run_conv1x1, run_matmul
from tvm_dsprune.pruning import groups, nm, structured
from tvm_dsprune.kernels import group_dense
from tvm_dsprune.sparse import group_format


def masked(f, k, kind, seed=0):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((f, k)).astype("float32")
    if kind == "group1x4":
        return w * groups.group_mask(w, 0.85, (1, 4), "optimal"), (1, 4)
    if kind == "group4x4":
        return w * groups.group_mask(w, 0.85, (4, 4), "optimal"), (4, 4)
    if kind == "filter":
        return w * structured.row_mask(w, 0.5), (1, 16)
    if kind == "nm":
        return w * nm.nm_mask(w, 2, 4), (1, 1)
    if kind == "magnitude":
        return np.where(np.abs(w) > 1.2, w, 0).astype("float32"), (1, 1)
    if kind == "empty":
        return np.zeros_like(w), (1, 4)
    raise ValueError(kind)


KINDS = ["group1x4", "group4x4", "filter", "nm", "magnitude", "empty"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("f,k,h", [(24, 40, 7), (30, 64, 14), (96, 144, 8)])
@pytest.mark.parametrize("form", ["cpu", "gpu"])
def test_conv1x1_matches_numpy(kind, f, k, h, form):
    w, shape = masked(f, k, kind)
    x = np.random.default_rng(1).standard_normal((1, k, h, h)).astype("float32")
    y, fmt = run_conv1x1(x, w, shape, local=form == "gpu")
    np.testing.assert_allclose(y, np.einsum("fk,nkhw->nfhw", w, x), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(fmt.to_dense(), w)


@pytest.mark.parametrize("h,tile", [(7, 32), (7, 8), (14, 32), (14, 16), (4, 16), (28, 16), (3, 8)])
def test_cpu_tiles_that_do_not_divide_the_image_overlap_correctly(h, tile):
    """The last pixel tile starts early and recomputes pixels of the one before: the numbers
    stay right for every image size, including images smaller than a tile and batches."""
    w, shape = masked(20, 36, "group1x4", seed=h)
    x = np.random.default_rng(h).standard_normal((2, 36, h, h)).astype("float32")
    y, _ = run_conv1x1(x, w, shape, tile=min(tile, h * h))
    np.testing.assert_allclose(y, np.einsum("fk,nkhw->nfhw", w, x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("form", ["cpu", "gpu"])
def test_matmul_matches_numpy(kind, form):
    w, shape = masked(100, 128, kind, seed=2)
    x = np.random.default_rng(3).standard_normal((2, 128)).astype("float32")
    y, _ = run_matmul(x, w, shape, local=form == "gpu")
    np.testing.assert_allclose(y, x @ w.T, rtol=1e-5, atol=1e-5)


def test_partial_row_block():
    """F = 17 with 4-row blocks: the last block has one real row."""
    w, _ = masked(17, 24, "magnitude")
    x = np.random.default_rng(4).standard_normal((1, 24, 5, 5)).astype("float32")
    y, fmt = run_conv1x1(x, w, (4, 4))
    assert fmt.num_blocks == -(-fmt.kept_rows // 4)
    np.testing.assert_allclose(y, np.einsum("fk,nkhw->nfhw", w, x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("n,spatial", [(1, (7, 7)), (1, ()), (3, ())])
def test_few_tiles_split_the_rows_into_runs_that_need_not_divide_them(n, spatial):
    """Fewer pixel tiles than tasks (a 7x7 image in one or two tiles, a dense layer): the tasks
    are runs of row blocks; 37 rows do not split evenly into them, and the output block keeps
    its own vector loop inside its run (a row loop vectorised by mistake gives wrong numbers)."""
    w, shape = masked(37, 24, "group1x4", seed=5)
    x = np.random.default_rng(6).standard_normal((n, 24, *spatial)).astype("float32")
    if spatial:
        y, _ = run_conv1x1(x, w, shape)
        np.testing.assert_allclose(y, np.einsum("fk,nkhw->nfhw", w, x), rtol=1e-5, atol=1e-5)
    else:
        y, _ = run_matmul(x, w, shape)
        np.testing.assert_allclose(y, x @ w.T, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("pixels,lanes,tile", [(49, 16, 32), (49, 8, 32), (196, 16, 64), (3136, 16, 64), (1, 16, 1)])
def test_cpu_pixel_tile_is_whole_vectors_where_the_image_allows(pixels, lanes, tile):
    """A tile is whole vectors unless the image is smaller than one: 7x7 runs as two
    overlapping tiles of 32 pixels, not as one 49-lane vector."""
    assert group_dense.pixel_tile(pixels, lanes) == tile
