import keras
import numpy as np
import pytest

from cnnlab.multicrop import center_crop, crop_offsets, five_crops, multicrop_predict, random_crops


def images(count=3, size=6, channels=2):
    return np.random.default_rng(0).random((count, size, size, channels)).astype("float32")


def test_offsets_are_corners_then_centre():
    assert crop_offsets(28, 24) == [(0, 0), (0, 4), (4, 0), (4, 4), (2, 2)]
    assert crop_offsets(7, 7) == [(0, 0)] * 5


def test_five_crops_match_slices():
    x = images()
    crops = five_crops(x, 4)
    assert crops.shape == (5, 3, 4, 4, 2)
    np.testing.assert_array_equal(crops[1], x[:, 0:4, 2:6])
    np.testing.assert_array_equal(crops[4], center_crop(x, 4))
    ten = five_crops(x, 4, flip=True)
    assert ten.shape == (10, 3, 4, 4, 2)
    np.testing.assert_array_equal(ten[7], crops[2][:, :, ::-1])


def test_random_crops_are_crops_of_their_image():
    x = images(count=20)
    crops = random_crops(x, 4, np.random.default_rng(1), flip=True)
    assert crops.shape == (20, 4, 4, 2)
    windows = five_crops(x, 4, flip=True)  # not all positions, so check against every window instead
    for i, crop in enumerate(crops):
        found = any(np.array_equal(crop, img[t:t + 4, l:l + 4]) for img in (x[i], x[i][:, ::-1])
                    for t in range(3) for l in range(3))
        assert found, i
    assert windows.shape[0] == 10


def test_random_crops_are_seeded():
    x = images()
    a = random_crops(x, 3, np.random.default_rng(5))
    b = random_crops(x, 3, np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)


def test_multicrop_predict_averages_the_crops():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4, 4, 2)), keras.layers.Flatten(),
                              keras.layers.Dense(3, activation="softmax")])
    x = images()
    expected = np.mean([model.predict(c, verbose=0) for c in five_crops(x, 4, flip=True)], axis=0)
    np.testing.assert_allclose(multicrop_predict(model, x, 4, flip=True), expected, rtol=1e-6)


@pytest.mark.parametrize("bad", [0, 7])
def test_a_crop_that_does_not_fit_is_refused(bad):
    with pytest.raises(ValueError, match="does not fit"):
        five_crops(images(), bad)


def test_images_without_channel_axis_are_refused():
    with pytest.raises(ValueError, match="channel axis"):
        center_crop(np.zeros((2, 6, 6)), 4)
