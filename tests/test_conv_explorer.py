"""cnnlab.widgets.conv_explorer: its geometry agrees with Keras, and the widget shows it."""

import keras
import numpy as np
import pytest

from cnnlab.widgets.conv_explorer import conv_explorer, conv_geometry, draw_conv


def keras_output_side(n, k, stride, padding, dilation):
    """Return Keras' output side for the explorer's settings, or None where Keras rejects them."""
    shape = (None, n, n, 1)
    try:
        if isinstance(padding, int):
            shape = keras.layers.ZeroPadding2D(padding).compute_output_shape(shape)
        conv = keras.layers.Conv2D(1, k, strides=stride, dilation_rate=dilation,
                                   padding="same" if padding == "same" else "valid")
        side = conv.compute_output_shape(shape)[1]
        return side if side > 0 else None  # Keras < 3.11 infers an empty shape instead of raising
    except ValueError:
        return None


@pytest.mark.backends
def test_geometry_accepts_and_rejects_exactly_what_keras_does():
    for n in (1, 3, 5, 8):
        for k in (1, 2, 3, 5, 7):
            for stride in (1, 2, 3):
                for dilation in (1, 2, 3):
                    for padding in ("valid", "same", 1, 2, 3):
                        expected = keras_output_side(n, k, stride, padding, dilation)
                        if expected is None:
                            with pytest.raises(ValueError, match="Keras rejects this convolution"):
                                conv_geometry(n, k, stride, padding, dilation)
                        else:
                            assert conv_geometry(n, k, stride, padding, dilation).output_size == expected


def test_rejection_keeps_keras_message_and_says_what_to_change():
    # Keras' own wording: "zero or negative" since 3.11, "would be negative" in 3.10 (Colab).
    with pytest.raises(ValueError, match=r"(?s)(zero or negative|would be negative).*kernel spans 5 inputs but the padded input has only 3"):
        conv_geometry(3, 5)
    with pytest.raises(ValueError, match=r"(?s)`strides > 1` not supported.*set one of them to 1"):
        conv_geometry(8, 3, stride=2, dilation=2)


@pytest.mark.parametrize("call, argument", [
    (lambda: conv_geometry(0, 3), "input_size"), (lambda: conv_geometry(5, -1), "kernel_size"),
    (lambda: conv_geometry(5, 3, padding="full"), "padding"), (lambda: conv_geometry(5, 3, filters=0), "filters"),
])
def test_bad_settings_name_the_argument(call, argument):
    with pytest.raises(ValueError, match=argument):
        call()


@pytest.mark.backends
@pytest.mark.parametrize("n, k, stride, padding, dilation", [
    (7, 3, 1, "valid", 1), (7, 3, 2, "same", 1), (6, 4, 1, "same", 1), (8, 3, 3, "same", 1),
    (7, 3, 1, "same", 2), (5, 3, 2, 1, 1), (9, 2, 1, "valid", 3),
])
def test_window_cells_are_the_inputs_keras_sums(n, k, stride, padding, dilation):
    g = conv_geometry(n, k, stride, padding, dilation)
    image = np.arange(1, n * n + 1, dtype="float32").reshape(1, n, n, 1)
    padded = np.pad(image[0, :, :, 0], [(g.pad_before, g.pad_after)] * 2)
    if isinstance(padding, int):
        image, padding = padded.reshape(1, *padded.shape, 1), "valid"
    kernel = np.ones((k, k, 1, 1), dtype="float32")
    out = keras.ops.convert_to_numpy(keras.ops.conv(image, kernel, strides=stride, padding=padding,
                                                    dilation_rate=dilation))[0, :, :, 0]
    assert out.shape == (g.output_size, g.output_size)
    for row in range(g.output_size):
        for col in range(g.output_size):
            assert out[row, col] == sum(padded[i, j] for i, j in g.window(row, col))


def test_geometry_reports_params_and_macs():
    g = conv_geometry(6, 3, in_channels=3, filters=5)
    assert (g.output_size, g.params, g.macs) == (4, 140, 2_160)
    assert "parameters: (3*3*3+1)*5 = 140" in g.describe()
    assert "MACs: 4*4*5*3*3*3 = 2,160" in g.describe()


def test_draw_conv_shows_padded_input_and_output():
    fig = draw_conv(conv_geometry(5, 3, padding=1), row=1, col=2)
    ax_in, ax_out = fig.axes
    assert ax_in.get_xlim() == (0, 7) and ax_out.get_xlim() == (0, 5)
    assert "input 5x5" in ax_in.get_title() and "output 5x5" in ax_out.get_title()


def test_widget_follows_its_sliders_and_explains_rejections():
    box = conv_explorer(input_size=7, kernel_size=3, in_channels=3, filters=8)
    assert "output: 5x5x8" in box.info.value and bytes(box.plot.value).startswith(b"\x89PNG")
    assert box.position.max == 24
    box.sliders["stride"].value = 2
    box.sliders["padding"].value = "same"
    assert "output: 4x4x8" in box.info.value and box.position.max == 15
    box.position.value = 15
    first_png = bytes(box.plot.value)
    box.position.value = 0
    assert bytes(box.plot.value) != first_png
    box.sliders["dilation"].value = 2
    assert "not supported in conjunction" in box.info.value and bytes(box.plot.value) == b""
    assert box.geometry is None
    box.sliders["stride"].value = 1
    assert "output: 7x7x8" in box.info.value and box.geometry.dilation == 2
