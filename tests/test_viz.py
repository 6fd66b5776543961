"""Tests for cnnlab.viz: the figures show the right content, and errors say what to do."""

import matplotlib

matplotlib.use("Agg")

import keras  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from cnnlab import viz  # noqa: E402


def images_of(fig):
    """Return the arrays drawn with imshow, axes by axes, subfigures included."""
    return [np.asarray(ax.images[0].get_array()) for ax in fig.get_axes() if ax.images]


def texts_of(fig):
    """Return every text on the figure: titles, annotations, cell numbers, suptitles."""
    return [t.get_text() for t in fig.findobj(matplotlib.text.Text)]


def values_of(variable):
    return keras.ops.convert_to_numpy(keras.ops.copy(variable))


def edge_image(size=32, edge=16):
    image = np.zeros((size, size), dtype="float32")
    image[:, edge:] = 1.0
    return image


def small_cnn(channels=1):
    return keras.Sequential([
        keras.Input((12, 12, channels)),
        keras.layers.Conv2D(20, 3, activation="relu", name="conv_a"),
        keras.layers.MaxPooling2D(name="pool_a"),
        keras.layers.Conv2D(6, 3, name="conv_b"),
        keras.layers.Flatten(name="flat"),
        keras.layers.Dense(3, name="head"),
    ], name="small_cnn")


# --- classic kernels ---------------------------------------------------------------------

@pytest.mark.backends
@pytest.mark.parametrize("padding", ["same", "reflect"])
def test_sobel_x_response_peaks_on_the_vertical_edge(padding):
    response = viz.apply_filter(edge_image(edge=16), "sobel_x", padding=padding)
    assert response.shape == (32, 32)
    peaks = response[1:-1].argmax(axis=1)
    assert set(peaks) <= {15, 16}
    assert response[1:-1, 15:17].min() == pytest.approx(4.0)
    assert np.allclose(response[1:-1, 1:14], 0) and np.allclose(response[1:-1, 18:-1], 0)


@pytest.mark.backends
def test_apply_filter_is_what_a_conv2d_layer_computes():
    rng = np.random.default_rng(0)
    image = rng.random((9, 11)).astype("float32")
    kernel = rng.standard_normal((5, 3)).astype("float32")
    layer = keras.layers.Conv2D(1, (5, 3), padding="same", use_bias=False)
    layer.build((None, 9, 11, 1))
    layer.set_weights([kernel[:, :, None, None]])
    expected = keras.ops.convert_to_numpy(layer(image[None, :, :, None]))[0, :, :, 0]
    assert np.allclose(viz.apply_filter(image, kernel), expected, atol=1e-5)


@pytest.mark.backends
def test_apply_filter_any_odd_kernel_and_colour_channels():
    rng = np.random.default_rng(1)
    rgb = rng.random((10, 12, 3)).astype("float32")
    identity = np.zeros((5, 5), dtype="float32")
    identity[2, 2] = 1
    assert np.allclose(viz.apply_filter(rgb, identity), rgb)
    blurred = viz.apply_filter(rgb, "box_blur", padding="valid")
    assert blurred.shape == (8, 10, 3)
    assert blurred[3, 4, 1] == pytest.approx(rgb[3:6, 4:7, 1].mean(), abs=1e-5)


@pytest.mark.parametrize("kernel, message", [
    (np.ones((3, 3, 3)), "must be 2-D"),
    (np.ones((2, 3)), "odd height and width"),
    ("emboss", "Unknown kernel"),
])
def test_bad_kernels_are_explained(kernel, message):
    with pytest.raises(ValueError, match=message):
        viz.apply_filter(np.zeros((8, 8)), kernel)


def test_image_of_wrong_rank_is_explained():
    with pytest.raises(ValueError, match="one image of shape"):
        viz.apply_filter(np.zeros((2, 8, 8, 1)), "sobel_x")
    with pytest.raises(ValueError, match="one image of shape"):
        viz.apply_filter(np.zeros(8), "sobel_x")


def test_named_kernels_and_sample_photos():
    assert set(viz.KERNELS) == {"vertical_line", "horizontal_line", "sobel_x", "sobel_y", "laplacian",
                                "box_blur", "gaussian_blur", "sharpen"}
    for name in ("box_blur", "gaussian_blur", "sharpen"):
        assert viz.KERNELS[name].sum() == pytest.approx(1.0)  # keep brightness
    for name in ("vertical_line", "horizontal_line", "sobel_x", "sobel_y", "laplacian"):
        assert viz.KERNELS[name].sum() == pytest.approx(0.0)  # flat regions give 0
    for name in viz.SAMPLE_IMAGES:
        photo = viz.sample_image(name)
        assert photo.dtype == np.float32 and 0 <= photo.min() and photo.max() <= 1
        assert viz.sample_image(name, grey=True).ndim == 2
    assert viz.sample_image("coffee").shape == (400, 600, 3)
    with pytest.raises(ValueError, match="astronaut"):
        viz.sample_image("lena")


def test_filter_response_figure_shows_image_kernel_numbers_and_response():
    image = edge_image()
    fig = viz.plot_filter_response(image, "sobel_x")
    drawn = images_of(fig)
    assert len(drawn) == 3
    assert np.array_equal(drawn[0], image)
    assert np.array_equal(drawn[1], viz.KERNELS["sobel_x"])
    assert np.allclose(drawn[2], viz.apply_filter(image, "sobel_x"))
    assert {"-1", "-2", "0", "1", "2"} <= set(texts_of(fig))
    gauss = texts_of(viz.plot_filter_response(viz.sample_image("camera")[:64, :64], "gaussian_blur"))
    assert "36" in gauss and any("1/256" in text for text in gauss)


# --- learned filters ---------------------------------------------------------------------

@pytest.mark.backends
def test_filter_grid_shows_the_layer_weights():
    model = small_cnn()
    conv = model.get_layer("conv_a")
    weights = np.arange(3 * 3 * 1 * 20, dtype="float32").reshape(3, 3, 1, 20) / 100 - 0.9
    conv.set_weights([weights, np.zeros(20, dtype="float32")])
    fig = viz.plot_filters(model)  # the first conv layer by default
    drawn = images_of(fig)
    assert len(drawn) == 20
    for index, panel in enumerate(drawn):
        assert np.allclose(panel, weights[:, :, 0, index])
    colour_scales = {ax.images[0].get_clim() for ax in fig.get_axes() if ax.images}
    assert len(colour_scales) == 1, "one shared colour scale"
    assert np.allclose(colour_scales.pop(), (-0.9, 0.9)), "centred on zero"
    assert any("20 filters" in text for text in texts_of(fig))


@pytest.mark.backends
def test_rgb_filters_are_colour_images_on_one_scale_and_deeper_layers_average():
    model = small_cnn(channels=3)
    drawn = images_of(viz.plot_filters(model, 0))
    weights = values_of(model.get_layer("conv_a").kernel)
    scaled = (weights - weights.min()) / (weights.max() - weights.min())
    assert drawn[0].shape == (3, 3, 3)
    assert np.allclose(drawn[7], scaled[..., 7])
    deeper = images_of(viz.plot_filters(model, "conv_b", max_filters=4))
    kernel_b = values_of(model.get_layer("conv_b").kernel)
    assert len(deeper) == 4 and np.allclose(deeper[2], kernel_b[:, :, :, 2].mean(axis=2))
    one_channel = images_of(viz.plot_filters(model, "conv_b", input_channel=5))
    assert np.allclose(one_channel[1], kernel_b[:, :, 5, 1])


def test_non_conv_layer_is_refused_with_the_conv_layers_listed():
    model = small_cnn()
    with pytest.raises(ValueError, match=r"'pool_a' is a MaxPooling2D.*'conv_a' \(Conv2D\), 'conv_b' \(Conv2D\)"):
        viz.plot_filters(model, "pool_a")
    with pytest.raises(ValueError, match="no layer named 'conv_z'"):
        viz.plot_filters(model, "conv_z")
    with pytest.raises(IndexError, match="out of range"):
        viz.plot_filters(model, 17)


# --- feature maps ------------------------------------------------------------------------

def nested_models():
    inner = keras.Sequential([keras.Input((10, 10, 20)), keras.layers.Conv2D(5, 3, name="inner_conv"),
                              keras.layers.AveragePooling2D(2, name="inner_pool")], name="inner")
    sequential = keras.Sequential([keras.Input((12, 12, 1)), keras.layers.Conv2D(20, 3, name="outer_conv"),
                                   inner, keras.layers.Flatten(), keras.layers.Dense(2)], name="seq")
    x = keras.Input((12, 12, 1))
    base = keras.Model(x, keras.layers.Conv2D(20, 3, name="base_conv")(x), name="base")
    y = keras.Input((12, 12, 1))
    h = keras.layers.Rescaling(2.0)(y)
    h = keras.layers.MaxPooling2D(name="top_pool")(base(h))
    functional = keras.Model(y, keras.layers.Dense(2)(keras.layers.Flatten()(h)), name="func")
    return sequential, functional


@pytest.mark.backends
def test_feature_maps_of_nested_models_match_running_the_layers_by_hand():
    sequential, functional = nested_models()
    image = np.random.default_rng(2).random((12, 12)).astype("float32")
    maps = viz.feature_maps(sequential, image)
    assert list(maps) == ["outer_conv", "inner_conv", "inner_pool"]
    by_hand = sequential.get_layer("outer_conv")(image[None, :, :, None])
    by_hand = sequential.get_layer("inner").get_layer("inner_conv")(by_hand)
    assert np.allclose(maps["inner_conv"], keras.ops.convert_to_numpy(by_hand)[0], atol=1e-5)
    assert maps["inner_pool"].shape == (4, 4, 5)

    maps = viz.feature_maps(functional, image[..., None])
    assert list(maps) == ["base_conv", "top_pool"]
    base = keras.ops.convert_to_numpy(functional.get_layer("base")(2 * image[None, :, :, None]))[0]
    assert np.allclose(maps["base_conv"], base, atol=1e-5)
    assert any(t.startswith("base_conv: 20 filters") for t in texts_of(viz.plot_filters(functional)))


def test_depthwise_filters_are_one_panel_per_input_channel_and_multiplier():
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.DepthwiseConv2D(3, depth_multiplier=2)])
    kernel = values_of(model.layers[0].kernel)
    drawn = images_of(viz.plot_filters(model))
    assert len(drawn) == 6 and np.allclose(drawn[3], kernel[:, :, 1, 1])


@pytest.mark.backends
def test_feature_map_grid_has_one_panel_per_channel_up_to_the_cap():
    model = small_cnn()
    image = np.random.default_rng(3).random((12, 12, 1)).astype("float32")
    fig = viz.plot_feature_maps(model, image, max_channels=16)
    grids = fig.subfigs
    assert len(grids) == 3  # conv_a, pool_a, conv_b
    panels = [len([ax for ax in grid.axes if ax.images]) for grid in grids]
    assert panels == [16, 16, 6]
    titles = [grid._suptitle.get_text() for grid in grids]
    assert titles[0] == "conv_a: 10x10x20 (first 16 shown, 4 hidden)"
    assert titles[2] == "conv_b: 3x3x6"
    maps = viz.feature_maps(model, image)
    assert np.allclose(grids[1].axes[3].images[0].get_array(), maps["pool_a"][..., 3])


def test_feature_maps_explain_bad_images_and_layers():
    model = small_cnn()
    with pytest.raises(ValueError, match=r"one image of shape \(12, 12, 1\)"):
        viz.feature_maps(model, np.zeros((4, 12, 12, 1)))
    with pytest.raises(ValueError, match="expects images of shape"):
        viz.feature_maps(model, np.zeros((10, 10, 1)))
    with pytest.raises(ValueError, match="do not output"):
        viz.plot_feature_maps(model, np.zeros((12, 12)), layers=["conv_b", "head"])


@pytest.mark.backends
def test_gradient_ascent_raises_the_filters_mean_activation():
    model = small_cnn()
    start = 0.5 + 0.05 * np.random.default_rng(0).standard_normal((12, 12, 1))
    images = viz.pattern_images(model, "conv_b", [1, 4], steps=10)
    assert images.shape == (2, 12, 12, 1)
    for image, f in zip(images, [1, 4]):
        before = viz.feature_maps(model, start, ["conv_b"])["conv_b"][..., f].mean()
        after = viz.feature_maps(model, image, ["conv_b"])["conv_b"][..., f].mean()
        assert after > before + 0.1
    fig = viz.filter_patterns(model, "conv_b", range(3), steps=2)
    assert len(images_of(fig)) == 3


# --- evaluation ----------------------------------------------------------------------------

def test_confusion_matrix_counts_every_test_image_once():
    rng = np.random.default_rng(4)
    y_true = rng.integers(0, 4, 250)
    scores = rng.random((250, 4))
    fig = viz.plot_confusion_matrix(y_true, scores, ["a", "b", "c", "d"])
    drawn = images_of(fig)[0]
    assert drawn.sum() == 250
    assert np.trace(drawn) == (scores.argmax(1) == y_true).sum()
    assert {"a", "d", "predicted class", "true class"} <= set(texts_of(fig))
    normalized = images_of(viz.plot_confusion_matrix(y_true, scores, normalize=True))[0]
    assert np.allclose(normalized.sum(axis=1), 1)


def test_misclassified_gallery_shows_only_mistakes_with_true_and_predicted_names():
    x = np.arange(30 * 4 * 4, dtype="float32").reshape(30, 4, 4, 1)
    y_true = np.arange(30) % 3
    y_pred = y_true.copy()
    y_pred[[2, 5, 11, 29]] = (y_true[[2, 5, 11, 29]] + 1) % 3
    fig = viz.plot_misclassified(x, y_true, y_pred, ["cat", "dog", "owl"], max_images=3)
    drawn = images_of(fig)
    assert len(drawn) == 3 and np.array_equal(drawn[1], x[5, :, :, 0])
    assert "owl\n-> cat" in texts_of(fig)  # image 5 is class 2 predicted as 0
    assert any("3 of 4 misclassified" in text for text in texts_of(fig))
    none = viz.plot_misclassified(x, y_true, y_true)
    assert any("No misclassified" in text for text in texts_of(none))


# --- training --------------------------------------------------------------------------------

def test_history_marks_the_best_validation_epoch():
    history = {"loss": [1.0, 0.6, 0.4, 0.3], "val_loss": [1.1, 0.7, 0.65, 0.8],
               "accuracy": [0.5, 0.7, 0.8, 0.9], "val_accuracy": [0.4, 0.6, 0.75, 0.7], "learning_rate": [1e-3] * 4}
    fig = viz.plot_history(history, title="run 1")
    assert [ax.get_title() for ax in fig.axes] == ["loss", "accuracy"]
    texts = texts_of(fig)
    assert "best: epoch 3, 0.65" in texts and "best: epoch 3, 0.75" in texts
    with pytest.raises(KeyError, match="no metric"):
        viz.plot_history(history, metrics=["auc"])


@pytest.mark.backends
def test_history_from_keras_fit_and_lr_schedules():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse", metrics=["mae"])
    x = np.random.default_rng(5).random((16, 2)).astype("float32")
    history = model.fit(x, x.sum(axis=1), epochs=2, validation_split=0.25, verbose=0)
    assert [ax.get_title() for ax in viz.plot_history(history).axes] == ["loss", "mae"]

    decay = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    epochs, rates = viz.learning_rates(decay, 3, steps_per_epoch=10)
    assert epochs[0] == 1 and rates[0] == pytest.approx(0.1) and rates[10] == pytest.approx(0.05)
    assert isinstance(viz.plot_lr_schedule(decay, 3, steps_per_epoch=10, log=True), Figure)
    with pytest.raises(ValueError, match="steps_per_epoch"):
        viz.plot_lr_schedule(decay, 3)
    _, halving = viz.learning_rates(lambda epoch: 0.1 / 2 ** epoch, 3)
    assert np.allclose(halving, [0.1, 0.05, 0.025])


# --- lessons 01 to 03 ----------------------------------------------------------------------

XOR = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)


def test_decision_boundary_regions_follow_the_classifier():
    fig = viz.plot_decision_boundary(lambda p: np.where(p[:, 0] > 0.5, 1, -1), XOR, [-1, -1, 1, 1],
                                     title="perceptron", resolution=50)
    ax = fig.axes[0]
    assert ax.get_title() == "perceptron"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["-1", "1"]
    xs = np.linspace(*ax.get_xlim(), 50)
    region = np.asarray(ax.collections[0].get_paths()[0].vertices)  # first class: x1 <= 0.5
    assert region[:, 0].max() <= 0.5 + (xs[1] - xs[0])
    probs = viz.plot_decision_boundary(lambda p: 1 / (1 + np.exp(-(p[:, :1] - 0.5) * 9)), XOR, [0, 0, 1, 1])
    assert any("P(class 1)" in text for text in texts_of(probs))
    outer = plt.figure()
    try:
        ax = outer.add_subplot()
        assert viz.plot_decision_boundary(lambda p: p.argmax(1), XOR, [0, 1, 0, 1], ax=ax) is outer
    finally:
        plt.close(outer)
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        viz.plot_decision_boundary(lambda p: p, np.zeros((4, 3)), [0, 1, 0, 1])


def test_activations_and_their_derivatives():
    fig = viz.plot_activations()
    assert [ax.get_title() for ax in fig.axes] == ["sigmoid", "tanh", "relu", "leaky_relu"]
    assert "max 0.25" in texts_of(fig)
    assert viz.optimization.activation_derivative("tanh", [0.0])[0] == pytest.approx(1.0)
    assert len(viz.plot_activations(["step", "relu"], derivatives=False).axes[0].lines) == 3  # f and axes
    with pytest.raises(ValueError, match="Unknown activation"):
        viz.plot_activations(["sigmoidd"])


def test_gradient_norms_and_optimizer_paths():
    fig = viz.plot_gradient_norms({"sigmoid": [1e-6, 1e-4, 1e-2], "relu": [0.2, 0.3, 0.25]})
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    assert [list(line.get_ydata()) for line in ax.lines] == [[1e-6, 1e-4, 1e-2], [0.2, 0.3, 0.25]]

    import math

    def saddle(x, y):  # a surface written for scalars only
        return x ** 2 - y ** 2 + 0.25 * y ** 4 + 0 * math.cos(0)

    paths = {"SGD": np.array([[1.5, 0.01], [1.0, 0.02], [0.5, 0.05]]), "Adam": np.array([[1.5, 0.01], [0.5, 1.0]])}
    fig = viz.plot_optimizer_paths(paths, saddle, bounds=((-2, 2), (-2, 2)))
    ax = fig.axes[0]
    assert ax.get_xlim() == (-2, 2)
    assert any(np.array_equal(line.get_xydata(), paths["SGD"]) for line in ax.lines)
    assert "SGD (2 steps)" in texts_of(fig)
    with pytest.raises(ValueError, match=r"\(steps, 2\)"):
        viz.plot_optimizer_paths({"bad": np.zeros((3, 3))}, saddle)


# --- figures, not pyplot state --------------------------------------------------------------

def test_figures_are_not_left_in_pyplot_and_render_once_as_png():
    plt.close("all")
    figures = [viz.plot_activations(), viz.plot_confusion_matrix([0, 1], [1, 1]),
               viz.plot_filter_response(edge_image(), "laplacian")]
    assert plt.get_fignums() == [], "a figure registered with pyplot would show twice in Jupyter"
    for fig in figures:
        assert isinstance(fig, Figure)
        assert fig.get_figwidth() <= 10
        assert fig._repr_png_().startswith(b"\x89PNG")
    from IPython.core.formatters import PNGFormatter

    assert PNGFormatter()(figures[0]).startswith(b"\x89PNG")


def test_plot_examples_titles_each_image_with_its_class():
    x = np.zeros((5, 28, 28), dtype="uint8")
    fig = viz.plot_examples(x, np.array([0, 1, 2, 3, 9]), ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"])
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["a", "b", "c", "d", "j"]
    with pytest.raises(ValueError, match="same length"):
        viz.plot_examples(x, np.array([0, 1]))


def test_decision_boundary_takes_a_keras_model():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2, activation="softmax")])
    points = np.array([[0.0, 0.0], [1.0, 1.0]])
    fig = viz.plot_decision_boundary(model, points, np.array([0, 1]), resolution=20)
    assert fig.axes[0].get_xlabel() == "$x_1$"


def test_optimizer_paths_that_overlap_get_distinct_line_styles():
    same = np.array([[1.0, 0.0], [0.5, 0.0], [0.0, 0.0]])
    fig = viz.plot_optimizer_paths({"SGD": same, "momentum": same.copy(), "Adam": same.copy()},
                                   lambda x, y: x ** 2 + y ** 2, bounds=((-1, 1), (-1, 1)))
    paths = [line for line in fig.axes[0].lines if len(line.get_xdata()) == 3]
    assert len(paths) == 3
    assert len({line.get_linestyle() for line in paths}) == 3
    assert len({line.get_marker() for line in paths}) == 3
    assert paths[0].get_zorder() > paths[1].get_zorder(), "the first path is drawn on top"


def test_decision_boundaries_side_by_side_share_one_colour_bar_and_label_the_axes():
    def soft(shift):
        return lambda p: 1 / (1 + np.exp(-(p[:, :1] - shift) * 9))

    fig = viz.plot_decision_boundaries({"at 0.3": soft(0.3), "at 0.7": (soft(0.7), [0, 0, 0, 1])},
                                       XOR, [0, 0, 1, 1], resolution=30)
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["at 0.3", "at 0.7"]
    assert len(fig.axes) == 3, "two panels and one shared colour bar"
    assert [t for t in texts_of(fig) if t.startswith("P(class")] == ["P(class 1)"]
    assert panels[0].get_xlabel() == "$x_1$" and panels[0].get_ylabel() == "$x_2$"
    # the second panel colours the points by its own labels: three of class 0, one of class 1
    legend = [t.get_text() for t in panels[1].get_legend().get_texts()]
    assert legend == ["0", "1"]
    assert [len(c.get_offsets()) for c in panels[1].collections if hasattr(c, "get_offsets")
            and len(c.get_offsets())][-2:] == [3, 1]
    labels_only = viz.plot_decision_boundaries({"step": lambda p: (p[:, 0] > 0.5).astype(int)}, XOR,
                                               [0, 0, 1, 1], resolution=20)
    assert len(labels_only.axes) == 1, "labels need no colour bar"
    with pytest.raises(ValueError, match="no labels"):
        viz.plot_decision_boundaries({"a": soft(0.5)}, XOR)
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        viz.plot_decision_boundary(soft(0.5), np.zeros((4, 3)), [0, 1, 0, 1], colorbar=False)
