"""cnnlab.inception: the Inception module's shapes, counts and branches, and GoogLeNet's totals."""

import math
import warnings

import keras
import numpy as np
import pytest

from cnnlab import inception, models, params

L = keras.layers

# GoogLeNet's Table 1 (Szegedy et al. 2014), "ops" column: millions of multiply-adds per module.
PAPER_OPS_M = {"3a": 128, "3b": 304, "4a": 73, "4b": 88, "4c": 100, "4d": 119, "4e": 170, "5a": 54, "5b": 71}


def module_model(input_shape, filters, name="m"):
    x = keras.Input(input_shape)
    return keras.Model(x, inception.inception_module(x, *filters, name=name))


def quiet_summary(model):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every layer must have a MAC rule
        return params.summary(model)


def expected_cost(height, width, channels, f1, r3, f3, r5, f5, fp):
    """Parameters and MACs of a module from the conv formulas alone."""
    convs = [(1, channels, f1), (1, channels, r3), (3, r3, f3), (1, channels, r5), (5, r5, f5), (1, channels, fp)]
    n_params = sum((k * k * c + 1) * f for k, c, f in convs)
    macs = sum(height * width * k * k * c * f for k, c, f in convs)
    return n_params, macs


@pytest.mark.backends
def test_module_3a_shape_parameters_and_macs():
    model = module_model((28, 28, 192), inception.GOOGLENET_MODULES["3a"], name="3a")
    table = quiet_summary(model)
    assert tuple(model.output.shape) == (None, 28, 28, 256)
    assert table.totals["params"] == 163_696 == model.count_params()
    assert table.totals["macs"] == 128_049_152  # the paper's 128M ops
    assert table.loc["3a_5x5", "formula"] == "(5*5*16+1)*32"


@pytest.mark.parametrize("shape, filters", [((14, 14, 480), inception.GOOGLENET_MODULES["4a"]),
                                            ((9, 13, 7), (3, 2, 5, 1, 4, 6))])
def test_module_costs_follow_the_conv_formulas(shape, filters):
    model = module_model(shape, filters)
    table = quiet_summary(model)
    assert (table.totals["params"], table.totals["macs"]) == expected_cost(*shape, *filters)
    assert tuple(model.output.shape) == (None, shape[0], shape[1], inception.output_channels(*filters))


@pytest.mark.backends
def test_branches_are_concatenated_in_order_along_depth():
    keras.utils.set_random_seed(0)
    model = module_model((6, 5, 3), (2, 1, 3, 1, 4, 5))
    x = np.random.default_rng(0).normal(size=(2, 6, 5, 3)).astype("float32")
    y = keras.ops.convert_to_numpy(model(x))
    one_by_one = model.get_layer("m_1x1")
    alone = keras.ops.convert_to_numpy(one_by_one(x))
    np.testing.assert_allclose(y[..., :2], alone, rtol=1e-5, atol=1e-6)
    pool = keras.ops.convert_to_numpy(keras.ops.max_pool(x, 3, strides=1, padding="same"))
    proj = keras.ops.convert_to_numpy(model.get_layer("m_pool_proj")(pool))
    np.testing.assert_allclose(y[..., -5:], proj, rtol=1e-5, atol=1e-6)


def test_bad_filter_count_says_what_is_expected():
    with pytest.raises(ValueError, match="reduce_3x3 must be a number of filters"):
        module_model((8, 8, 4), (4, 0, 4, 2, 2, 2))


@pytest.mark.backends
def test_googlenet_totals_and_the_papers_ops():
    model = inception.googlenet()
    table = quiet_summary(model)
    assert table.totals["params"] == 6_998_552 == model.count_params()
    assert tuple(model.get_layer("5b_concat").output.shape) == (None, 7, 7, 1024)
    assert 1.5e9 < table.totals["macs"] < 1.6e9  # "1.5 billion multiply-adds"
    for name, ops in PAPER_OPS_M.items():
        macs = table[table.index.str.startswith(f"{name}_")]["macs"].sum()
        assert math.isclose(macs / 1e6, ops, rel_tol=0.06), (name, macs)
    ratio = models.alexnet().count_params() / model.count_params()
    assert 8 < ratio < 10


@pytest.mark.backends
def test_googlenet_runs_on_small_images():
    model = inception.googlenet((64, 64, 3), num_classes=5)
    y = keras.ops.convert_to_numpy(model(np.zeros((1, 64, 64, 3), "float32")))
    assert y.shape == (1, 5)
    np.testing.assert_allclose(y.sum(), 1.0, rtol=1e-5)
