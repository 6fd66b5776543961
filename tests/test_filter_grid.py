"""cnnlab.viz.kernels.plot_filter_grid: kernels on top, one row of responses per photo."""

import numpy as np
import pytest

from cnnlab.viz.kernels import KERNELS, apply_filter, plot_filter_grid

pytestmark = pytest.mark.backends


def _texts(fig):
    return [t.get_text() for ax in fig.axes for t in ax.texts] + [ax.get_title() for ax in fig.axes]


def test_grid_has_kernel_row_and_a_response_per_photo_and_kernel():
    image = np.zeros((20, 30), dtype="float32")
    image[:, 15:] = 1.0  # one vertical edge
    fig = plot_filter_grid({"edge": image, "flipped": image[:, ::-1]}, ["sobel_x", "box_blur"], padding="reflect")
    # corner + 2 kernels, then (photo + 2 responses) per photo
    assert len(fig.axes) == 3 + 2 * 3
    texts = _texts(fig)
    assert "sobel_x" in texts and "box_blur\nx 1/9" in texts
    assert texts.count("-2") == 1 and texts.count("2") == 1  # sobel_x's weights written in
    sobel_panel = fig.axes[4].images[0]  # first photo's sobel_x response
    np.testing.assert_allclose(sobel_panel.get_array(), apply_filter(image, "sobel_x", padding="reflect"))
    assert sobel_panel.get_cmap().name == "RdBu_r"  # a detector: signed colours
    assert fig.axes[5].images[0].get_cmap().name == "gray"  # a blur: a grey image
    assert fig.axes[3].get_ylabel() == "edge\n20x30"


def test_grid_loads_sample_photos_by_name_and_filters_their_grey_version():
    fig = plot_filter_grid(["chelsea"], [KERNELS["vertical_line"]])
    assert fig.axes[2].get_ylabel() == "chelsea\n300x451"
    assert fig.axes[3].images[0].get_array().shape == (300, 451)


@pytest.mark.parametrize("images, kernels, error", [
    ("camera", ["sobel_x"], TypeError), (["camera"], "sobel_x", TypeError),
    ([], ["sobel_x"], ValueError), (["camera"], ["nope"], ValueError)])
def test_grid_rejects_bad_arguments(images, kernels, error):
    with pytest.raises(error):
        plot_filter_grid(images, kernels)
