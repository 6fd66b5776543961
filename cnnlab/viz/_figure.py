"""The figure every cnnlab plot returns, and small drawing helpers the modules share.

Why not ``plt.subplots``: a figure made through pyplot is registered with pyplot, so in
Jupyter's inline backend it is drawn once when the cell ends and once more as the cell's
value. A bare :class:`matplotlib.figure.Figure` belongs to nobody: returned as a cell's
value it is displayed exactly once, and in a script it is only saved (``fig.savefig``).
Jupyter displays such a figure through the inline backend's PNG formatter once pyplot has
been imported; :class:`Figure` adds ``_repr_png_`` so it also displays when pyplot never was.
"""

from __future__ import annotations

import io
import math

import matplotlib.figure
import numpy as np

# Readable at a notebook's default width (about 950 px of content at 100 dpi).
WIDTH = 9.5
DPI = 100


class Figure(matplotlib.figure.Figure):
    """A matplotlib Figure that renders itself as PNG when it is a notebook cell's value."""

    def _repr_png_(self):
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", bbox_inches="tight")
        return buffer.getvalue()


def new_figure(width: float = WIDTH, height: float = 4.0) -> Figure:
    """Return an empty constrained-layout :class:`Figure` of the given size in inches."""
    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def figure_and_axes(ax=None, *, width: float = 6.5, height: float = 4.5):
    """Return ``(figure, axes)``: ``ax`` and its figure if given, else a new one-axes figure."""
    if ax is not None:
        return ax.figure, ax
    fig = new_figure(width, height)
    return fig, fig.add_subplot()


def image_grid(fig, count: int, ncols: int):
    """Return ``count`` axes without ticks, laid out ``ncols`` to a row on ``fig`` (a Figure or SubFigure)."""
    ncols = max(1, ncols)
    nrows = math.ceil(count / ncols)
    axes = []
    for i in range(count):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        ax.set_xticks([])
        ax.set_yticks([])
        axes.append(ax)
    return axes


def as_image(array) -> np.ndarray:
    """Return a single image as (H, W) or (H, W, 3) float for ``imshow``; (H, W, 1) is squeezed."""
    image = np.asarray(array, dtype=np.float32)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[-1] != 3):
        raise ValueError(
            f"Expected an image of shape (height, width), (height, width, 1) or (height, width, 3), "
            f"got shape {image.shape}. Pass one image, not a batch."
        )
    return image


def to_numpy(values) -> np.ndarray:
    """Return ``values`` (a NumPy array, list or any Keras backend tensor) as a NumPy array."""
    if isinstance(values, np.ndarray):
        return values
    try:
        return np.asarray(values)
    except (TypeError, ValueError, RuntimeError):
        from keras import ops

        return ops.convert_to_numpy(values)


def history_logs(history) -> dict[str, list[float]]:
    """Return ``{metric: values per epoch}`` from a keras History or its ``.history`` dict."""
    logs = getattr(history, "history", history)
    if not isinstance(logs, dict) or not logs:
        raise TypeError(f"Expected a keras History (what model.fit returns) or a non-empty dict of "
                        f"metric name -> values per epoch, got {type(history).__name__}.")
    return {name: [float(v) for v in values] for name, values in logs.items()}


def style_epoch_axes(ax, title: str) -> None:
    """Title the axes, label x as whole epochs, add a light grid and a small legend."""
    from matplotlib.ticker import MaxNLocator

    ax.set_title(title)
    ax.set_xlabel("epoch")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
