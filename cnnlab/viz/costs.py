"""Costs side by side: grouped bars of MACs or parameters, one group per layer or model.

>>> import pandas as pd
>>> table = pd.DataFrame({"standard": [2160, 924_844_032], "separable": [672, 109_985_792]},
...                      index=["6x6x3 -> 5", "112x112x64 -> 128"])
>>> fig = plot_costs(table, xlabel="multiplications")
>>> len(fig.axes[0].patches)  # 2 groups x 2 bars
4
"""

from __future__ import annotations

import numpy as np

from cnnlab.viz._figure import WIDTH, new_figure

__all__ = ["plot_costs", "short_number"]


def short_number(value: float) -> str:
    """Return ``value`` in at most four significant characters: 2160 -> '2.2k', 924844032 -> '925M'.

    >>> [short_number(v) for v in (672, 2160, 109_985_792, 3.5e9)]
    ['672', '2.2k', '110M', '3.5G']
    """
    for size, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            scaled = value / size
            return f"{scaled:.1f}{unit}" if abs(scaled) < 10 else f"{scaled:.0f}{unit}"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.3g}"


def plot_costs(table, *, log: bool = True, xlabel: str = "MACs per example", title=None):
    """Return horizontal grouped bars of ``table``: a group per row, a bar per column, values written on.

    ``table`` is a DataFrame (or anything ``pandas.DataFrame`` accepts) of positive numbers:
    its index names the groups (layers or models, drawn top to bottom), its columns the bars
    of each group (for instance ``standard`` and ``separable``). ``log`` draws the value axis
    on a log scale, so costs a thousand times apart stay readable.
    """
    import pandas as pd

    frame = pd.DataFrame(table)
    if frame.empty:
        raise ValueError("plot_costs needs a table with at least one row and one column, got an empty one.")
    try:
        values = frame.to_numpy(float)
    except (TypeError, ValueError):
        raise TypeError(f"plot_costs draws numbers; the columns {list(frame.columns)} hold other values. "
                        "Pass only the numeric columns, e.g. table[['standard', 'separable']].") from None
    if log and not (np.isfinite(values) & (values > 0)).all():
        raise ValueError("A log-scale bar needs positive finite values; the table has zeros, negatives or "
                         "missing values. Drop those rows, or pass log=False.")
    groups, bars = values.shape
    fig = new_figure(WIDTH, 0.9 + 0.32 * groups * bars + 0.25 * groups)
    ax = fig.add_subplot()
    height = 0.8 / bars
    positions = np.arange(groups)
    for j, column in enumerate(frame.columns):
        y = positions - 0.4 + height * (j + 0.5)
        drawn = ax.barh(y, values[:, j], height=height * 0.92, label=str(column), color=f"C{j}")
        ax.bar_label(drawn, labels=[short_number(v) for v in values[:, j]], padding=3, fontsize=8)
    ax.set_yticks(positions, [str(name) for name in frame.index])
    ax.invert_yaxis()  # first row on top, as in the table
    if log:
        ax.set_xscale("log")
        ax.set_xlim(np.nanmin(values) / 3, np.nanmax(values) * 6)  # room for the labels
    else:
        ax.set_xlim(0, np.nanmax(values) * 1.15)
    ax.set_xlabel(xlabel + (" (log scale)" if log else ""))
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    if title:
        ax.set_title(title)
    return fig
