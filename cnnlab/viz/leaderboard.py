"""The course leaderboard as a figure: test accuracy against model size and against training time."""

from __future__ import annotations

import math

import numpy as np
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter

from cnnlab.viz._figure import WIDTH, new_figure

NEEDED = ["name", "test_accuracy", "params", "train_seconds"]


def plot_leaderboard(table, *, title=None):
    """Return two scatter plots, accuracy vs parameters (log scale) and vs training time, points named.

    ``table`` is what :func:`cnnlab.leaderboard.load` or ``add_row`` returns (a DataFrame with
    columns name, test_accuracy, params and train_seconds). Rows whose ``source`` is "yours"
    (the learner's own runs) are drawn in orange, the course's rows in blue.
    """
    import pandas as pd

    frame = pd.DataFrame(table)
    missing = [column for column in NEEDED if column not in frame.columns]
    if missing:
        raise KeyError(f"The leaderboard table needs the columns {NEEDED}; missing {missing} "
                       f"(it has {list(frame.columns)}). Pass cnnlab.leaderboard.load().")
    fig = new_figure(WIDTH, 4.2)
    ax_params, ax_time = fig.subplots(1, 2, sharey=True)
    if not len(frame):
        fig.text(0.5, 0.5, "The leaderboard has no rows yet: run an architecture lesson in the full profile.",
                 ha="center", va="center")
        return fig
    accuracy = frame["test_accuracy"].to_numpy(float)
    yours = (frame["source"] == "yours").to_numpy() if "source" in frame else np.zeros(len(frame), bool)
    colours = np.where(yours, "tab:orange", "tab:blue")
    for ax, column, label in ((ax_params, "params", "parameters (log scale)"),
                              (ax_time, "train_seconds", "training time, s (log scale)")):
        values = frame[column].to_numpy(float)
        ax.scatter(values, accuracy, c=colours, s=40, zorder=3)
        for name, x, y in zip(frame["name"].astype(str), values, accuracy):
            ax.annotate(name, (x, y), xytext=(5, 4), textcoords="offset points", fontsize=8)
        ax.set_xscale("log")
        low, high = np.nanmin(values), np.nanmax(values)
        ax.set_xlim(max(low, 1e-3) / 2, max(high, 1e-3) * 4)  # room on the right for the names
        ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: _short(value)))
        # Label the 2s and 5s between powers of ten too, so a narrow range still has numbers.
        ax.xaxis.set_minor_formatter(FuncFormatter(lambda value, _: _short(value) if _leading(value) in (2, 5) else ""))
        ax.set_xlabel(label)
        ax.grid(alpha=0.3)
    middle, half = (accuracy.max() + accuracy.min()) / 2, max(0.6 * (accuracy.max() - accuracy.min()), 0.02)
    ax_params.set_ylim(middle - half, middle + half)
    ax_params.set_ylabel("test accuracy")
    if yours.any():
        handles = [Line2D([], [], marker="o", linestyle="", color=colour, label=label)
                   for colour, label, shown in (("tab:blue", "the course's runs", not yours.all()),
                                                ("tab:orange", "your runs", True)) if shown]
        ax_time.legend(handles=handles, loc="lower right", fontsize=8)
    models = f"{len(frame)} model{'s' if len(frame) > 1 else ''}"
    fig.suptitle(title or f"Leaderboard: {models} on Fashion-MNIST (higher is better; left is smaller or faster)")
    return fig


def _leading(value: float) -> int:
    """Return the leading digit of a positive number: 2 for 2000 or 0.2."""
    return round(value / 10 ** math.floor(math.log10(value))) if value > 0 else 0


def _short(value: float) -> str:
    """Return a tick label such as 200k, 1.5M or 30."""
    for size, suffix in ((1e6, "M"), (1e3, "k")):
        if value >= size:
            return f"{value / size:g}{suffix}"
    return f"{value:g}"
