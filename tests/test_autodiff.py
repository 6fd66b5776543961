"""Tests for cnnlab.autodiff: the backend's gradient equals the analytic one, on every backend."""

import keras
import numpy as np
import pytest
from keras import ops

from cnnlab import autodiff

pytestmark = pytest.mark.backends

# TensorFlow computes float64 throughout; Keras' type rules on JAX and PyTorch compute
# reductions such as ops.mean in float32 (keras.backend.result_type("float64", "float32")).
RTOL = 1e-12 if keras.backend.backend() == "tensorflow" else 1e-6


def test_gradient_of_a_least_squares_loss_is_the_analytic_one():
    rng = np.random.default_rng(0)
    x, y, w = rng.normal(size=(20, 3)), rng.normal(size=20), rng.normal(size=3)

    loss, grad = autodiff.gradients(lambda v: ops.mean((ops.matmul(x, v) - y) ** 2), w)

    residual = x @ w - y
    assert loss == pytest.approx(np.mean(residual ** 2), rel=RTOL)
    assert grad.dtype == np.float64 and grad.shape == (3,)
    assert np.allclose(grad, 2 * x.T @ residual / len(y), rtol=RTOL, atol=RTOL / 100)


def test_dict_of_variables_gets_a_dict_of_gradients_in_float64():
    # Softmax regression: dL/dW = X.T (P - Y) / n, dL/db = column sums of (P - Y) / n.
    rng = np.random.default_rng(1)
    x, labels = rng.normal(size=(7, 4)), np.array([0, 2, 1, 1, 0, 2, 2])
    params = {"W": rng.normal(size=(4, 3)), "b": rng.normal(size=3)}

    def loss_fn(p):
        log_p = ops.log_softmax(ops.matmul(x, p["W"]) + p["b"], axis=1)
        return -ops.mean(ops.take_along_axis(log_p, ops.expand_dims(labels, 1), axis=1))

    loss, grads = autodiff.gradients(loss_fn, params)

    z = x @ params["W"] + params["b"]
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    delta = (p - np.eye(3)[labels]) / len(labels)
    assert sorted(grads) == ["W", "b"]
    assert loss == pytest.approx(-np.mean(np.log(p[np.arange(7), labels])), rel=RTOL)
    assert grads["W"].dtype == np.float64
    assert np.abs(grads["W"] - x.T @ delta).max() < RTOL
    assert np.abs(grads["b"] - delta.sum(axis=0)).max() < RTOL


def test_list_in_list_out_float32_stays_float32_and_unused_variables_get_zeros():
    a, b = np.array([1.0, 2.0], dtype="float32"), np.array([5.0], dtype="float32")

    loss, (grad_a, grad_b) = autodiff.gradients(lambda v: ops.sum(v[0] ** 3), [a, b])

    assert loss == pytest.approx(9.0)
    assert grad_a.dtype == np.float32 and np.allclose(grad_a, 3 * a ** 2)
    assert np.array_equal(grad_b, [0.0])


def test_weight_gradients_of_a_linear_model_match_the_formula_and_leave_weights_alone():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(16, 5)).astype("float32"), rng.normal(size=(16, 1)).astype("float32")
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(1, name="out")])
    kernel_before = ops.convert_to_numpy(model.layers[0].kernel).copy()

    loss, grads = autodiff.weight_gradients(model, x, y, loss="mean_squared_error")

    kernel, bias = model.layers[0].get_weights()
    residual = x @ kernel + bias - y
    assert loss == pytest.approx(float(np.mean(residual ** 2)), rel=1e-5)
    layer = model.layers[0]
    assert set(grads) == {layer.kernel.path, layer.bias.path}
    assert np.allclose(grads[layer.kernel.path], 2 * x.T @ residual / len(x), rtol=1e-4, atol=1e-6)
    assert np.allclose(grads[layer.bias.path], 2 * residual.mean(axis=0), rtol=1e-4, atol=1e-6)
    assert np.array_equal(ops.convert_to_numpy(model.layers[0].kernel), kernel_before)


def test_bad_inputs_say_what_to_do():
    with pytest.raises(TypeError, match="astype"):
        autodiff.gradients(lambda v: ops.sum(v), np.array([1, 2]))
    with pytest.raises(ValueError, match="single number"):
        autodiff.gradients(lambda v: v * 2, np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match="build it"):
        autodiff.weight_gradients(keras.Sequential([keras.layers.Dense(2)]), np.zeros((1, 3)), np.zeros(1))
