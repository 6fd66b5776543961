"""Where a classifier of 2-D points draws its lines: decision regions over the plane."""

from __future__ import annotations

import keras
import numpy as np
from matplotlib.colors import ListedColormap

from cnnlab.viz._figure import WIDTH, figure_and_axes, new_figure, to_numpy
from cnnlab.viz.evaluation import as_labels

_COLOURS = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple",
            "tab:brown", "tab:pink", "tab:gray", "tab:olive", "tab:cyan"]


def grid_over(x, resolution: int = 200):
    """Return ``(xx, yy, points)``: a resolution x resolution grid covering ``x`` with a margin, and its (n, 2) points.

    >>> xx, yy, points = grid_over(np.array([[0, 0], [1, 1]]), resolution=3)
    >>> xx[0], points.shape
    (array([-0.35,  0.5 ,  1.35]), (9, 2))
    """
    x = np.asarray(x, dtype=float)
    low, high = x.min(axis=0), x.max(axis=0)
    margin = 0.15 * (high - low) + 0.2
    xs = np.linspace(low[0] - margin[0], high[0] + margin[0], resolution)
    ys = np.linspace(low[1] - margin[1], high[1] + margin[1], resolution)
    xx, yy = np.meshgrid(xs, ys)
    return xx, yy, np.column_stack([xx.ravel(), yy.ravel()])


def plot_decision_boundary(predict, x, y, *, ax=None, title=None, resolution: int = 200, class_names=None,
                           colorbar: bool = True):
    """Return a plot of the classes ``predict`` assigns over the plane, with the points ``x`` coloured by ``y``.

    ``predict`` is a Keras model, or a function mapping an (n, 2) float array to class scores
    (n, k), probabilities of class 1 (n,) or (n, 1), or labels. A model is run on the whole
    grid in one call. For a probability output the shading shows the probability and the
    line where it is 0.5 (with a colour bar unless ``colorbar=False``).
    """
    fig, ax = figure_and_axes(ax, width=5.5, height=4.5)
    shade, label = _draw_regions(predict, x, y, ax, resolution, class_names)
    if shade is not None and colorbar:
        fig.colorbar(shade, ax=ax, shrink=0.8, label=label)
    if title:
        ax.set_title(title)
    return fig


def plot_decision_boundaries(panels, x, y=None, *, resolution: int = 150, title=None):
    """Return one decision-region panel per entry of ``panels``, side by side, sharing one colour bar.

    ``panels`` maps a panel's title to a classifier (as for :func:`plot_decision_boundary`) or
    to ``(classifier, labels)`` when the panels colour the points ``x`` differently; ``y`` is
    the labels otherwise.
    """
    if not isinstance(panels, dict) or not panels:
        raise TypeError("panels must be a non-empty dict: panel title -> classifier, or -> (classifier, labels).")
    fig = new_figure(width=min(3.3 * len(panels) + 0.8, WIDTH), height=3.5)
    axes = np.atleast_1d(fig.subplots(1, len(panels), sharex=True, sharey=True))
    shades = []
    for ax, (name, entry) in zip(axes, panels.items()):
        predict, labels = entry if isinstance(entry, tuple) else (entry, y)
        if labels is None:
            raise ValueError(f"panel {name!r} has no labels: pass y, or (classifier, labels) for the panel.")
        shades.append(_draw_regions(predict, x, labels, ax, resolution, None))
        ax.set_title(name, fontsize=10)
    for ax in axes[1:]:
        ax.set_ylabel("")
    drawn = [(shade, label) for shade, label in shades if shade is not None]
    if drawn:
        fig.colorbar(drawn[-1][0], ax=list(axes), shrink=0.85, label=drawn[-1][1])
    if title:
        fig.suptitle(title)
    return fig


def _draw_regions(predict, x, y, ax, resolution, class_names):
    """Draw regions, boundary and points on ``ax``; return (probability shading, its label), or (None, None)."""
    x = np.asarray(x, dtype=float)
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"x must be points in the plane, shape (n, 2), got {x.shape}.")
    labels = np.asarray(y).reshape(-1).astype(int)
    xx, yy, points = grid_over(x, resolution)
    if isinstance(predict, keras.Model):
        # One direct call: model.predict would trace a new function per model (TensorFlow
        # warns about retracing after a few) and run 1,250 batches of its default size 32.
        model = predict
        predict = lambda p: model(p, training=False)  # noqa: E731
    scores = to_numpy(predict(points.astype("float32")))
    if len(scores) != len(points):
        raise ValueError(f"predict returned {len(scores)} values for {len(points)} points; it must "
                         f"return one row per point.")
    classes = np.union1d(np.unique(labels), np.unique(as_labels(scores)))
    # Labels such as -1/+1 (a perceptron's) index the colours by their rank.
    rank = {label: i for i, label in enumerate(classes)}
    palette = [_COLOURS[i % len(_COLOURS)] for i in range(len(classes))]
    name = (lambda c: class_names[rank[c]]) if class_names is not None else str

    flat = scores.reshape(len(scores), -1)
    shade = label = None
    probability = flat.shape[1] == 1 and np.issubdtype(flat.dtype, np.floating) and not np.all(flat == np.round(flat))
    if probability:
        shade = ax.contourf(xx, yy, flat.reshape(xx.shape), levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.45)
        ax.contour(xx, yy, flat.reshape(xx.shape), levels=[0.5], colors="black", linewidths=1.5)
        label = f"P(class {name(classes[-1])})"
        if len(classes) == 2:  # match the red-blue probability shading
            palette = ["tab:blue", "tab:red"]
    else:
        regions = np.vectorize(rank.get)(as_labels(scores)).reshape(xx.shape)
        ax.contourf(xx, yy, regions, levels=np.arange(len(classes) + 1) - 0.5, cmap=ListedColormap(palette),
                    alpha=0.25)
        if len(np.unique(regions)) > 1:
            ax.contour(xx, yy, regions, levels=np.arange(len(classes)) + 0.5, colors="black", linewidths=1)
    ranks = np.vectorize(rank.get)(labels)
    for i, c in enumerate(classes):
        mask = ranks == i
        if mask.any():
            ax.scatter(x[mask, 0], x[mask, 1], color=palette[i], edgecolor="black", s=60 if len(x) <= 50 else 20,
                       label=name(c), zorder=3)
    ax.legend(title="class", fontsize=8, loc="best")
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    return shade, label
