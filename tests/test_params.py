"""cnnlab.params and cnnlab.conv_arithmetic: exact parameter, MAC and memory counts."""

import ast
import math
import warnings

import keras
import numpy as np
import pandas as pd
import pytest

from cnnlab import models, params
from cnnlab.conv_arithmetic import compare_conv_costs, conv_params, dense_params, output_size
from cnnlab.layers import LocalResponseNormalization, TunableDropout

L = keras.layers


def evaluate(formula: str) -> int:
    """Evaluate a formula of integers, '+', '*' and parentheses without eval()."""
    def value(node):
        if isinstance(node, ast.Expression):
            return value(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mult)):
            left, right = value(node.left), value(node.right)
            return left + right if isinstance(node.op, ast.Add) else left * right
        raise ValueError(f"unexpected term in formula {formula!r}")
    return value(ast.parse(formula, mode="eval"))


def quiet_summary(model, **kwargs):
    """Return the summary, failing the test on any warning (every layer must be known)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return params.summary(model, **kwargs)


# ---- the seeds' figures ---------------------------------------------------------------

@pytest.mark.backends
def test_5x5_conv_with_200_filters_on_150x100x3():
    model = keras.Sequential([keras.Input((150, 100, 3)), L.Conv2D(200, 5, padding="same", name="conv")])
    row = quiet_summary(model).loc["conv"]
    assert (row.params, row.macs, row.formula) == (15_200, 225_000_000, "(5*5*3+1)*200")
    assert conv_params(5, 3, 200) == 15_200


def test_lenet5_has_61706_parameters():
    model = models.lenet5()
    table = quiet_summary(model)
    assert table.totals["params"] == 61_706 == model.count_params()
    assert table.loc["c1", "formula"] == "(5*5*1+1)*6"


def test_alexnet_course_form_reproduces_the_notes_per_layer_counts():
    table = quiet_summary(models.alexnet())
    counts = table.loc[["conv1", "conv2", "conv3", "conv4"], "params"].tolist()
    assert counts == [34_944, 221_440, 885_120, 1_327_488]
    assert table.loc["conv1", "output_shape"] == (None, 55, 55, 96)
    assert table.totals["params"] == 61_985_128


@pytest.mark.backends
def test_standard_versus_depthwise_separable_on_6x6x3():
    inputs = keras.Input((6, 6, 3))
    model = keras.Model(inputs, [L.Conv2D(5, 3, name="standard")(inputs),
                                 L.SeparableConv2D(5, 3, name="separable")(inputs)])
    table = quiet_summary(model)
    assert table.loc["standard", "macs"] == 2_160
    assert table.loc["separable", "macs"] == 432 + 240 == 672
    assert compare_conv_costs(6, 3, 3, 5)["separable"] == 672


@pytest.mark.backends
def test_100x100_image_into_1000_dense_units_is_10_million_weights():
    model = keras.Sequential([keras.Input((100, 100)), L.Flatten(), L.Dense(1000, name="dense")])
    row = quiet_summary(model).loc["dense"]
    assert row.params == 10_001_000 == dense_params(100 * 100, 1000)
    assert row.macs == 10_000_000 == dense_params(100 * 100, 1000, use_bias=False)


# ---- every layer type the course uses ---------------------------------------------------

def course_layers_model():
    """A functional model holding every layer type the course counts, nested models included."""
    inner_seq = keras.Sequential([keras.Input((8, 8, 16)), L.Conv2D(8, 1, name="squeeze"),
                                  L.ReLU(name="relu")], name="seq")
    inner_in = keras.Input((8, 8, 8))
    inner_fun = keras.Model(inner_in, L.Add(name="add")([inner_in, L.DepthwiseConv2D(3, padding="same",
                                                                     name="dw")(inner_in)]), name="fun")
    x_in = keras.Input((16, 16, 3), name="image")
    x = L.Rescaling(1 / 255, name="rescale")(x_in)
    for layer in (L.RandomFlip(name="flip"), L.RandomRotation(0.1), L.RandomTranslation(0.1, 0.1),
                  L.RandomZoom(0.1), L.RandomContrast(0.1)):
        x = layer(x)
    x = L.Resizing(8, 8, name="resize")(x)  # bilinear: 4 MACs per output value
    x = L.ZeroPadding2D(1, name="pad")(x)
    x = L.Conv2D(8, 3, strides=2, name="strided")(x)  # 10x10 -> 4x4
    x = L.Conv2DTranspose(4, 3, strides=2, padding="same", name="up")(x)  # 4x4x8 -> 8x8x4
    x = L.Conv2D(8, 3, padding="same", groups=2, name="grouped")(x)
    x = L.Conv2D(8, 3, padding="same", dilation_rate=2, use_bias=False, name="dilated")(x)
    x = L.BatchNormalization(name="bn")(x)
    x = LocalResponseNormalization(name="lrn")(x)
    s = L.SeparableConv2D(8, 3, padding="same", depth_multiplier=2, name="sep")(x)
    x = L.Concatenate(name="cat")([x, s])
    x = inner_fun(inner_seq(x))
    x = L.Multiply(name="gate")([x, L.Activation("sigmoid", name="sig")(x)])
    x = L.MaxPooling2D(2, name="maxpool")(x)
    x = L.AveragePooling2D(2, name="avgpool")(x)
    x = L.GlobalMaxPooling2D(name="gmp")(L.LayerNormalization(name="ln")(x))
    seq = L.Reshape((8, 1), name="reshape")(x)
    seq = L.Conv1D(4, 3, padding="same", name="conv1d")(seq)
    x = L.Concatenate(name="cat2")([L.GlobalAveragePooling1D(name="gap")(seq), L.Flatten(name="flat")(seq)])
    x = TunableDropout(0.2, name="tdrop")(L.Dropout(0.5, name="drop")(x))
    return keras.Model(x_in, L.Dense(3, name="head")(x))


@pytest.mark.backends
def test_every_course_layer_type_is_counted_exactly():
    model = course_layers_model()
    table = quiet_summary(model)
    assert not table.macs.isna().any()
    assert table.totals["params"] == model.count_params()
    assert table.totals["non_trainable"] == 2 * 8 + 1  # BN's moving mean and variance, the dropout rate
    for name, row in table.iterrows():
        assert evaluate(row.formula) == row.params, name
    expected_macs = {
        "rescale": 16 * 16 * 3, "resize": 4 * 8 * 8 * 3, "pad": 0,
        "strided": 4 * 4 * 8 * 3 * 3 * 3, "up": 4 * 4 * 8 * 3 * 3 * 4,
        "grouped": 8 * 8 * 8 * 3 * 3 * 2, "dilated": 8 * 8 * 8 * 3 * 3 * 8, "bn": 0,
        "lrn": 6 * 8 * 8 * 8, "sep": 8 * 8 * 16 * (3 * 3 + 8), "seq/squeeze": 8 * 8 * 8 * 16,
        "fun/dw": 8 * 8 * 8 * 3 * 3, "fun/add": 0, "gate": 8 * 8 * 8, "ln": 2 * 2 * 2 * 8,
        "conv1d": 8 * 4 * 3, "head": 36 * 3, "tdrop": 0, "flip": 0,
    }
    assert table.loc[list(expected_macs), "macs"].to_dict() == expected_macs
    assert table.loc["sep", "formula"] == "3*3*8*2 + (8*2+1)*8"
    assert table.loc["grouped", "formula"] == "(3*3*2+1)*8"  # 4 input channels in 2 groups


@pytest.mark.backends
def test_unknown_layer_keeps_keras_params_and_marks_macs_unknown():
    class Scale(L.Layer):
        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1],))

        def call(self, x):
            return x * self.w

    model = keras.Sequential([keras.Input((4,)), Scale(name="scale"), L.Dense(2, name="dense")])
    with pytest.warns(UserWarning, match="layer type Scale"):
        table = params.summary(model)
    assert table.loc["scale", "params"] == 4
    assert pd.isna(table.loc["scale", "macs"])
    assert table.totals["unknown_macs"] == ["scale"]
    assert table.totals["macs"] == 8
    assert "unknown for scale" in str(table)


@pytest.mark.backends
def test_shared_layer_has_one_row_with_params_once_and_macs_of_each_call():
    shared = L.Dense(3, name="shared")
    a, b = keras.Input((5,)), keras.Input((5,))
    model = keras.Model([a, b], L.Add()([shared(a), shared(b)]))
    table = quiet_summary(model)
    assert table.loc["shared", "params"] == 18
    assert table.loc["shared", "macs"] == 2 * 15
    assert table.totals["params"] == model.count_params() == 18


# ---- optimizer slots, memory, display -----------------------------------------------------

@pytest.mark.backends
def test_optimizer_slots_are_reported_apart_from_model_params_after_fit():
    model = keras.Sequential([keras.Input((4,)), L.Dense(3), L.BatchNormalization(), L.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    assert quiet_summary(model).totals["optimizer_params"] is None
    model.fit(np.ones((8, 4)), np.ones((8, 1)), epochs=1, verbose=0)
    table = quiet_summary(model)
    assert table.totals["params"] == model.count_params() == 15 + 12 + 4
    trainable = sum(math.prod(w.shape) for w in model.trainable_weights)
    # Adam keeps two moments per trainable weight, plus its step counter and learning rate.
    assert table.totals["optimizer_params"] == sum(math.prod(v.shape) for v in model.optimizer.variables)
    assert table.totals["optimizer_params"] >= 2 * trainable
    assert f"Optimizer variables: {table.totals['optimizer_params']:,} (not model parameters)" in str(table)


@pytest.mark.backends
def test_training_memory_counts_weights_gradients_slots_and_batch_activations():
    model = keras.Sequential([keras.Input((10,)), L.Dense(5, name="dense")])
    parts = params.training_memory(model, batch_size=8, dtype="float16", optimizer_slots=1)
    assert parts.to_dict() == {"weights": 110, "gradients": 110, "optimizer": 110,
                               "activations": 8 * 15 * 2, "total": 570}
    table = quiet_summary(model, batch_size=8, dtype="float16", optimizer_slots=1)
    assert table.totals["training_bytes"] == 570
    assert table.totals["weight_bytes"] == 55 * 4
    assert table.totals["activation_bytes"] == 15 * 4


def test_summary_displays_as_text_and_html_with_totals():
    table = quiet_summary(models.lenet5())
    text, page = str(table), table._repr_html_()
    assert "(5*5*6+1)*16" in text and "Total params: 61,706" in text
    assert "<table" in page and "Total params: 61,706" in page
    assert "MACs per example: 416,520" in text


# ---- bad input -------------------------------------------------------------------------------

@pytest.mark.backends
def test_unbuilt_model_error_says_how_to_build_it():
    with pytest.raises(ValueError, match="keras.Input.*call it once"):
        params.summary(keras.Sequential([L.Dense(3)]))


@pytest.mark.parametrize("thing, named", [(np.zeros(3), "numpy.ndarray"), ("vgg16", "builtins.str"),
                                          (L.Dense(3), "layer Dense")])
def test_non_model_is_a_type_error_naming_what_it_got(thing, named):
    with pytest.raises(TypeError, match=named):
        params.summary(thing)


@pytest.mark.parametrize("call, argument", [
    (lambda: output_size(0, 3), "input_size"), (lambda: output_size(5, 3, stride=-1), "stride"),
    (lambda: output_size(5, 3, dilation=0), "dilation"), (lambda: output_size(5, 3, padding=-1), "padding"),
    (lambda: conv_params(3, 3, 0), "filters"), (lambda: dense_params(-4, 2), "inputs"),
    (lambda: params.training_memory(models.lenet5(), batch_size=0), "batch_size"),
])
def test_zero_or_negative_sizes_are_value_errors_naming_the_argument(call, argument):
    with pytest.raises(ValueError, match=argument):
        call()


# ---- conv arithmetic against Keras ---------------------------------------------------------

@pytest.mark.backends
def test_output_size_agrees_with_keras_and_rejects_what_keras_rejects():
    for n in range(1, 9):
        for k in range(1, 5):
            for stride, dilation in [(1, 1), (2, 1), (3, 1), (1, 2), (1, 3)]:
                for padding in ["valid", "same", 1, 2]:
                    shape = (None, n, n, 1)
                    if isinstance(padding, int):
                        shape = L.ZeroPadding2D(padding).compute_output_shape(shape)
                    conv = L.Conv2D(1, k, strides=stride, dilation_rate=dilation,
                                    padding="same" if padding == "same" else "valid")
                    try:
                        expected = conv.compute_output_shape(shape)[1]
                    except ValueError:
                        with pytest.raises(ValueError, match="padded input has only"):
                            output_size(n, k, stride, padding, dilation)
                        continue
                    assert output_size(n, k, stride, padding, dilation) == expected, (n, k, stride, padding)


# ---- keras.applications: parameters exact, MACs against published figures -----------------

APPLICATIONS = ["VGG16", "VGG19", "ResNet50", "ResNet50V2", "MobileNet",
                "MobileNetV2", "InceptionV3", "Xception",
                "DenseNet121", "EfficientNetB0"]

# Published multiply-accumulates (bias excluded) and where they come from.
PUBLISHED_MACS = {
    # torchvision's model table (pytorch.org/vision/stable/models.html), GFLOPS column for
    # VGG16_Weights.IMAGENET1K_V1: 15.47, counted as multiply-adds. Same layers as Keras'.
    "VGG16": 15.47e9,
    # He et al. 2015, "Deep Residual Learning", Table 1: 3.8 x 10^9 FLOPs, defined there as
    # multiply-adds. Keras' ResNet50 is that v1 form (stride 2 in the first 1x1 conv of a
    # block; torchvision's v1.5 puts it in the 3x3 and costs 4.09 G). Keras' convs carry biases
    # (not MACs) and its BatchNormalization folds into them at inference (0 MACs).
    "ResNet50": 3.8e9,
    # Howard et al. 2017, "MobileNets", Table 8: 1.0 MobileNet-224, 569 million Mult-Adds.
    "MobileNet": 569e6,
    # Sandler et al. 2018, "MobileNetV2", Table 4: 300 M multiply-adds at 224x224, width 1.0.
    "MobileNetV2": 300e6,
    # torchvision's model table, Inception_V3_Weights.IMAGENET1K_V1 at 299x299: 5.71 GFLOPS.
    # torchvision's model has an auxiliary classifier used only in training (not counted in
    # eval mode); Keras' InceptionV3 has none, and its convs have no biases.
    "InceptionV3": 5.71e9,
    # Tan and Le 2019, "EfficientNet", Table 2: EfficientNet-B0, 0.39 B FLOPs (multiply-adds).
    # Keras' form adds input Rescaling and Normalization layers (one MAC per input value, 0.3 M)
    # and counts the squeeze-and-excitation gating (Multiply) as one MAC per value.
    "EfficientNetB0": 0.39e9,
}


@pytest.fixture(scope="module")
def application(request):
    """Build a keras.applications model without weights (no download) and summarise it once."""
    model = getattr(keras.applications, request.param)(weights=None)
    yield request.param, model, quiet_summary(model)
    keras.backend.clear_session()


@pytest.mark.parametrize("application", APPLICATIONS, indirect=True)
def test_param_totals_and_formulas_equal_keras(application):
    name, model, table = application
    assert table.totals["params"] == model.count_params()
    assert table.totals["trainable"] == sum(math.prod(w.shape) for w in model.trainable_weights)
    wrong = [layer for layer, row in table.iterrows() if evaluate(row.formula) != row.params]
    assert not wrong, f"{name}: formulas disagree with Keras for {wrong[:5]}"
    assert not table.macs.isna().any()


@pytest.mark.parametrize("application", list(PUBLISHED_MACS), indirect=True)
def test_macs_match_published_figures_within_2_percent(application):
    name, _, table = application
    assert table.totals["macs"] == pytest.approx(PUBLISHED_MACS[name], rel=0.02)


@pytest.mark.backends
def test_frozen_nested_model_moves_its_weights_to_non_trainable():
    inner = keras.Sequential([keras.Input((6,)), L.Dense(4, name="hidden")], name="base")
    inputs = keras.Input((6,))
    model = keras.Model(inputs, L.Dense(2, name="head")(inner(inputs)))
    inner.trainable = False
    table = quiet_summary(model)
    assert table.loc["base/hidden", ["trainable", "non_trainable"]].tolist() == [0, 28]
    assert (table.totals["trainable"], table.totals["non_trainable"]) == (10, 28)


@pytest.mark.backends
def test_subclassed_model_keeps_keras_params_with_unknown_macs_and_a_warning():
    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.conv, self.flat, self.dense = L.Conv2D(4, 3), L.Flatten(), L.Dense(2)

        def call(self, x):
            return self.dense(self.flat(self.conv(x)))

    model = Net()
    model(np.zeros((1, 8, 8, 1), dtype="float32"))
    with pytest.warns(UserWarning, match="Net is a subclassed model.*functional API"):
        table = params.summary(model)
    assert table.totals["params"] == model.count_params() == 330
    assert table.macs.isna().all()
