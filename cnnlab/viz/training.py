"""How training went: loss and metric curves, and the learning rate over the epochs."""

from __future__ import annotations

import inspect
import math

import numpy as np

from cnnlab.viz._figure import figure_and_axes, history_logs, new_figure, style_epoch_axes

_LOWER_IS_BETTER = ("loss", "error", "mae", "mse", "rmse", "crossentropy", "hinge")
_NOT_METRICS = ("lr", "learning_rate")


def lower_is_better(metric: str) -> bool:
    """Return True for metrics to minimize (losses and errors), False for those to maximize.

    >>> lower_is_better("val_loss"), lower_is_better("accuracy")
    (True, False)
    """
    name = metric.removeprefix("val_")
    return any(part in name for part in _LOWER_IS_BETTER)


def best_epoch(values, metric: str) -> int:
    """Return the 0-based index of the best value of ``metric`` (lowest loss, highest accuracy).

    >>> best_epoch([0.9, 0.5, 0.6], "val_loss"), best_epoch([0.7, 0.9, 0.8], "val_accuracy")
    (1, 1)
    """
    values = np.asarray(values, dtype=float)
    return int(np.nanargmin(values) if lower_is_better(metric) else np.nanargmax(values))


def plot_history(history, *, metrics=None, title=None):
    """Return one panel per metric (loss first): training and validation curves, best epoch marked.

    ``history`` is what ``model.fit`` returns or its ``.history`` dict; ``metrics`` names the
    panels (default: every metric logged, without ``val_`` twins and the learning rate).
    The best epoch of each panel (by validation if logged) gets a dot and a dashed line.
    """
    logs = history_logs(history)
    if metrics is None:
        metrics = [name for name in logs if not name.startswith("val_") and name not in _NOT_METRICS]
        metrics.sort(key=lambda name: name != "loss")
    elif isinstance(metrics, str):
        metrics = [metrics]
    missing = [name for name in metrics if name not in logs and f"val_{name}" not in logs]
    if missing:
        raise KeyError(f"History has no metric {missing}; it logged {sorted(logs)}.")

    first = getattr(history, "epoch", None) or [0]
    columns = min(len(metrics), 3)
    rows = math.ceil(len(metrics) / columns)
    fig = new_figure(height=3.4 * rows)
    for index, metric in enumerate(metrics):
        ax = fig.add_subplot(rows, columns, index + 1)
        for name, style, label in ((metric, "-", "train"), (f"val_{metric}", "--", "validation")):
            if name in logs:
                epochs = np.arange(1, len(logs[name]) + 1) + first[0]
                ax.plot(epochs, logs[name], style, marker="o", markersize=3, label=label)
        judged = f"val_{metric}" if f"val_{metric}" in logs else metric
        if judged in logs:
            best = best_epoch(logs[judged], judged)
            value = logs[judged][best]
            epoch = best + 1 + first[0]
            ax.axvline(epoch, color="grey", linestyle=":", linewidth=1)
            ax.plot(epoch, value, "o", color="crimson", markersize=7, zorder=3,
                    label=f"best: epoch {epoch}, {value:.4g}")
        style_epoch_axes(ax, metric)
    if title:
        fig.suptitle(title)
    return fig


def learning_rates(schedule, epochs: int, *, steps_per_epoch=None, initial_lr: float = 1e-3,
                   max_points: int = 2000):
    """Return ``(x, lr)``: epochs (fractional for per-step schedules) and the learning rate there.

    ``schedule`` is a ``keras.optimizers.schedules.LearningRateSchedule`` (needs
    ``steps_per_epoch``), a function ``epoch -> lr``, or a function ``(epoch, lr) -> lr`` as
    ``keras.callbacks.LearningRateScheduler`` calls it, starting from ``initial_lr``.

    >>> learning_rates(lambda epoch, lr: lr if epoch < 2 else lr / 2, 4, initial_lr=0.1)
    (array([1, 2, 3, 4]), array([0.1  , 0.1  , 0.05 , 0.025]))
    """
    import keras

    if isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule):
        if not steps_per_epoch:
            raise ValueError("A LearningRateSchedule changes the rate every step: pass steps_per_epoch "
                             "(training examples // batch size) to put epochs on the x axis.")
        total = epochs * steps_per_epoch
        steps = np.unique(np.linspace(0, total - 1, min(total, max_points)).astype(int))
        rates = np.array([float(keras.ops.convert_to_numpy(schedule(int(step)))) for step in steps])
        return 1 + steps / steps_per_epoch, rates
    if not callable(schedule):
        raise TypeError(f"Expected a callable or a LearningRateSchedule, got {type(schedule).__name__}.")
    takes_lr = len(inspect.signature(schedule).parameters) >= 2
    rates, lr = [], float(initial_lr)
    for epoch in range(epochs):
        # LearningRateScheduler calls the schedule at the start of each epoch with the current rate.
        lr = float(schedule(epoch, lr)) if takes_lr else float(schedule(epoch))
        rates.append(lr)
    return np.arange(1, epochs + 1), np.array(rates)


def plot_lr_schedule(schedule, epochs: int, *, steps_per_epoch=None, initial_lr: float = 1e-3,
                     log: bool = False, ax=None, title=None):
    """Return a plot of the learning rate over ``epochs`` (see :func:`learning_rates` for the inputs)."""
    x, rates = learning_rates(schedule, epochs, steps_per_epoch=steps_per_epoch, initial_lr=initial_lr)
    fig, ax = figure_and_axes(ax, width=6.5, height=3.5)
    per_step = len(x) > epochs
    ax.plot(x, rates, "-" if per_step else "-o", markersize=4,
            drawstyle="default" if per_step else "steps-post")
    ax.set_xlabel("epoch")
    ax.set_ylabel("learning rate")
    if log:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.set_title(title or getattr(schedule, "__name__", type(schedule).__name__).replace("<lambda>", "schedule"))
    return fig
