"""Several training runs on one figure: a panel per metric, a line per run.

>>> fig = plot_histories({"step": {"loss": [1.0, 0.5], "learning_rate": [0.1, 0.01]},
...                       "constant": {"loss": [1.0, 0.7], "learning_rate": [0.1, 0.1]}},
...                      metrics=["loss", "learning_rate"])
>>> [ax.get_title() for ax in fig.axes], [ax.get_yscale() for ax in fig.axes]
(['loss', 'learning rate'], ['linear', 'log'])
"""

from __future__ import annotations

import math

import numpy as np

from cnnlab.viz._figure import history_logs, new_figure, style_epoch_axes

__all__ = ["plot_histories"]

_RATE_NAMES = ("learning_rate", "lr")


def plot_histories(histories: dict, *, metrics=("loss", "val_accuracy"), title=None):
    """Return one panel per metric with one curve per run, the runs named by the keys of ``histories``.

    ``histories`` maps a run's name to what ``model.fit`` returned (or its ``.history`` dict).
    Every run must have logged every metric in ``metrics``; a learning-rate panel
    (``learning_rate`` or ``lr``) is drawn as steps on a log scale, the way rates are set.
    """
    if not isinstance(histories, dict) or not histories:
        raise TypeError("histories must be a non-empty dict of run name -> History, "
                        "e.g. {'step schedule': history_step, 'constant': history_constant}.")
    metrics = [metrics] if isinstance(metrics, str) else list(metrics)
    runs = {name: history_logs(history) for name, history in histories.items()}
    for name, logs in runs.items():
        missing = [metric for metric in metrics if metric not in logs]
        if missing:
            hint = (" A LearningRateScheduler callback logs 'learning_rate'."
                    if any(m in _RATE_NAMES for m in missing) else "")
            raise KeyError(f"Run {name!r} has no {missing} in its history; it logged {sorted(logs)}.{hint}")

    columns = min(len(metrics), 3)
    rows = math.ceil(len(metrics) / columns)
    fig = new_figure(height=3.2 * rows)
    for index, metric in enumerate(metrics):
        ax = fig.add_subplot(rows, columns, index + 1)
        is_rate = metric in _RATE_NAMES
        for name, logs in runs.items():
            epochs = np.arange(1, len(logs[metric]) + 1)
            ax.plot(epochs, logs[metric], marker="o", markersize=3, label=name,
                    drawstyle="steps-mid" if is_rate else "default")
        if is_rate:
            ax.set_yscale("log")
        style_epoch_axes(ax, metric.replace("_", " "))
    if title:
        fig.suptitle(title)
    return fig
