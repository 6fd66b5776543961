"""cnnlab.invariance: shifting images, relative change, pooling and shift sensitivity."""

import numpy as np
import pytest

from cnnlab.invariance import pool, relative_change, shift_images, shift_sensitivity

pytestmark = pytest.mark.backends


def test_shift_moves_pixels_and_fills_zeros_in_both_directions():
    images = np.arange(1, 10, dtype="float32").reshape(1, 3, 3)
    down = shift_images(images, dy=1, dx=0)[0]
    assert down.tolist() == [[0, 0, 0], [1, 2, 3], [4, 5, 6]]
    up_left = shift_images(images[..., None], dy=-1, dx=-1)[0, ..., 0]
    assert up_left.tolist() == [[5, 6, 0], [8, 9, 0], [0, 0, 0]]


@pytest.mark.parametrize("kwargs, message", [
    (dict(dx=3), "moves the image out"), (dict(dy=1.5), "whole number"), (dict(dx=True), "whole number")])
def test_shift_rejects_bad_moves(kwargs, message):
    with pytest.raises(ValueError, match=message):
        shift_images(np.zeros((2, 3, 3)), **kwargs)


def test_shift_rejects_a_single_image():
    with pytest.raises(ValueError, match=r"image\[None\]"):
        shift_images(np.zeros((3, 3)))


def test_relative_change_is_per_example_then_averaged():
    before = np.array([[3.0, 4.0], [1.0, 0.0]])
    after = np.array([[3.0, 0.0], [1.0, 0.0]])
    assert relative_change(before, after) == pytest.approx((0.8 + 0.0) / 2)
    with pytest.raises(ValueError, match="shapes"):
        relative_change(before, after[:1])
    with pytest.raises(ValueError, match="all zeros"):
        relative_change(np.zeros((1, 2)), np.ones((1, 2)))


def test_pool_matches_a_numpy_reduction_and_checks_its_arguments():
    maps = np.random.default_rng(0).normal(size=(2, 6, 4, 3)).astype("float32")
    windows = maps.reshape(2, 3, 2, 2, 2, 3)  # (n, rows, 2, cols, 2, channels)
    np.testing.assert_allclose(pool(maps, "max", 2), windows.max(axis=(2, 4)), rtol=1e-6)
    np.testing.assert_allclose(pool(maps, "average", 2), windows.mean(axis=(2, 4)), rtol=1e-5, atol=1e-6)
    assert pool(maps, "max", 1) is not None and pool(maps, "max", 1).shape == maps.shape
    with pytest.raises(ValueError, match="kind"):
        pool(maps, "median")
    with pytest.raises(ValueError, match="size"):
        pool(maps, "max", 0)
    with pytest.raises(ValueError, match=r"\(N, H, W, C\)"):
        pool(maps[0], "max")


def test_pooling_makes_edge_maps_less_sensitive_to_a_one_pixel_shift():
    from keras import ops

    from cnnlab.viz.kernels import KERNELS

    rng = np.random.default_rng(1)
    images = np.zeros((16, 32, 32, 1), dtype="float32")
    for image in images:  # bright rectangles at random places: edges in both directions
        top, left = rng.integers(2, 14, size=2)
        image[top:top + rng.integers(6, 16), left:left + rng.integers(6, 16)] = 1.0
    kernel = np.stack([KERNELS["sobel_x"], KERNELS["sobel_y"]], axis=-1)[:, :, None, :]
    edges = lambda x: ops.relu(ops.conv(x, kernel, padding="same"))
    table = shift_sensitivity(edges, images, pool_sizes=(1, 2, 4))
    assert list(table.columns) == ["max", "average"] and list(table.index) == [1, 2, 4]
    assert table.loc[1, "max"] == table.loc[1, "average"] > 0.5  # unpooled maps change a lot
    assert (table.loc[2] < table.loc[1]).all() and (table.loc[4] < table.loc[2]).all()


def test_shift_sensitivity_of_shift_invariant_features_is_zero():
    images = np.random.default_rng(2).uniform(0.1, 1, size=(4, 8, 8, 1)).astype("float32")
    # An image's total brightness ignores where things are, as long as nothing leaves the frame.
    images[:, 0, :] = images[:, -1, :] = images[:, :, 0] = images[:, :, -1] = 0
    total = lambda x: np.asarray(x).sum(axis=(1, 2), keepdims=True)
    table = shift_sensitivity(total, images, pool_sizes=(1,))
    assert table.loc[1].tolist() == pytest.approx([0.0, 0.0], abs=1e-6)


def test_shift_sensitivity_names_bad_feature_functions_and_shifts():
    images = np.ones((2, 4, 4, 1), dtype="float32")
    with pytest.raises(ValueError, match=r"\(N, H, W, C\)"):
        shift_sensitivity(lambda x: x.reshape(len(x), -1), images)
    with pytest.raises(ValueError, match="shifts is empty"):
        shift_sensitivity(lambda x: x, images, shifts=[])
