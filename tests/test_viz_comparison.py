"""cnnlab.viz.comparison: several runs on one figure."""

import numpy as np
import pytest

from cnnlab.viz.comparison import plot_histories

STEP = {"loss": [1.0, 0.6, 0.5], "val_accuracy": [0.7, 0.8, 0.85], "learning_rate": [0.05, 0.02, 0.02]}
CONSTANT = {"loss": [1.0, 0.7, 0.65], "val_accuracy": [0.7, 0.78, 0.8], "learning_rate": [0.05, 0.05, 0.05]}


def test_one_panel_per_metric_one_line_per_run():
    fig = plot_histories({"step": STEP, "constant": CONSTANT}, metrics=["loss", "val_accuracy", "learning_rate"])
    assert [ax.get_title() for ax in fig.axes] == ["loss", "val accuracy", "learning rate"]
    loss = fig.axes[0]
    assert [line.get_label() for line in loss.get_lines()] == ["step", "constant"]
    np.testing.assert_allclose(loss.get_lines()[1].get_ydata(), CONSTANT["loss"])
    np.testing.assert_array_equal(loss.get_lines()[0].get_xdata(), [1, 2, 3])
    assert fig.axes[2].get_yscale() == "log" and fig.axes[0].get_yscale() == "linear"


def test_accepts_keras_history_objects():
    class History:  # what model.fit returns: the logs are its .history
        history = STEP

    fig = plot_histories({"run": History()}, metrics="loss", title="one run")
    assert len(fig.axes) == 1 and fig._suptitle.get_text() == "one run"


def test_missing_metric_names_the_run_and_what_it_logged():
    with pytest.raises(KeyError, match=r"'constant'.*learning_rate.*LearningRateScheduler"):
        plot_histories({"step": STEP, "constant": {"loss": [1.0]}}, metrics=["loss", "learning_rate"])


def test_rejects_an_empty_or_wrong_argument():
    with pytest.raises(TypeError, match="non-empty dict"):
        plot_histories({})
    with pytest.raises(TypeError, match="History"):
        plot_histories({"run": [0.1, 0.2]})
