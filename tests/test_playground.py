"""Tests for the playground's figure: a trained state is labelled and says how far training got."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from cnnlab.widgets.playground_tasks import draw_playground, make_task  # noqa: E402


def surface():
    xs = ys = np.linspace(-1, 1, 20)
    return xs, ys, 1 / (1 + np.exp(-8 * np.add.outer(ys, xs)))


def test_trained_state_has_labelled_axes_integer_epochs_and_the_last_scores():
    x, y = make_task("blobs", n=40)
    history = [{"loss": 0.7 - 0.05 * i, "accuracy": 0.5 + 0.04 * i} for i in range(7)]
    fig = Figure()
    draw_playground(fig, surface(), x, y, history)
    left, right = fig.axes
    assert (left.get_xlabel(), left.get_ylabel()) == ("$x_1$", "$x_2$")
    assert "after 7 epochs" in left.get_title()
    assert right.get_xlabel() == "epoch" and right.get_ylabel() == "loss, accuracy"
    assert right.get_title() == "loss 0.400, accuracy 0.74"
    loss, accuracy = right.lines
    assert list(loss.get_xdata()) == [1, 2, 3, 4, 5, 6, 7]
    assert loss.get_linestyle() != accuracy.get_linestyle()
    ticks = right.get_xticks()
    assert np.allclose(ticks, np.round(ticks)), "epoch ticks are whole numbers"


def test_untrained_state_says_so_instead_of_an_empty_panel():
    x, y = make_task("xor", n=40)
    fig = Figure()
    draw_playground(fig, surface(), x, y, [])
    left, right = fig.axes
    assert "untrained" in left.get_title()
    assert [t.get_text() for t in right.texts] == ["not trained yet: press Train"]
