"""cnnlab.layers.LocalResponseNormalization against TensorFlow's own op and the formula."""

import numpy as np
import pytest
import keras

from cnnlab.layers import LocalResponseNormalization


@pytest.mark.backends
@pytest.mark.parametrize("alpha, beta", [(1e-4, 0.75), (0.5, 0.75), (0.5, 0.6)])  # 0.75: a faster path
def test_lrn_matches_formula(alpha, beta):
    x = 3 * np.random.default_rng(0).normal(size=(2, 3, 3, 7)).astype("float32")
    got = keras.ops.convert_to_numpy(LocalResponseNormalization(depth_radius=2, bias=2.0, alpha=alpha, beta=beta)(x))
    padded = np.pad(x ** 2, [(0, 0)] * 3 + [(2, 2)])
    window = sum(padded[..., i:i + 7] for i in range(5))
    np.testing.assert_allclose(got, x / (2.0 + alpha * window) ** beta, rtol=1e-5)


def test_lrn_matches_tensorflow():
    tf = pytest.importorskip("tensorflow")
    if keras.backend.backend() != "tensorflow":
        pytest.skip("compares with tf.nn on the TensorFlow backend")
    x = np.random.default_rng(1).uniform(size=(1, 4, 4, 9)).astype("float32") * 10
    ours = keras.ops.convert_to_numpy(LocalResponseNormalization(3, 1.0, 1e-2, 0.5)(x))
    theirs = tf.nn.local_response_normalization(x, 3, 1.0, 1e-2, 0.5).numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-5)


@pytest.mark.backends
def test_lrn_has_no_weights_and_round_trips(tmp_path):
    model = keras.Sequential([keras.Input((8, 8, 4)), LocalResponseNormalization(name="lrn")])
    assert model.count_params() == 0
    path = tmp_path / "m.keras"
    model.save(path)
    again = keras.models.load_model(path)
    assert again.get_layer("lrn").depth_radius == 2


def test_lrn_rejects_bad_radius():
    with pytest.raises(ValueError, match="depth_radius"):
        LocalResponseNormalization(depth_radius=1.5)
