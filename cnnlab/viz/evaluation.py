"""How good a trained model is: its confusion matrix and its mistakes."""

from __future__ import annotations

import math

import numpy as np

from cnnlab.viz._figure import WIDTH, as_image, figure_and_axes, image_grid, new_figure, to_numpy


def as_labels(predictions) -> np.ndarray:
    """Return integer class labels from labels, (n, k) class scores, or (n,) / (n, 1) probabilities of class 1.

    >>> as_labels([[0.1, 0.9], [0.8, 0.2]]), as_labels([0.3, 0.7]), as_labels([2, 0])
    (array([1, 0]), array([0, 1]), array([2, 0]))
    """
    values = to_numpy(predictions)
    if values.ndim == 2 and values.shape[1] > 1:
        return values.argmax(axis=1)
    values = values.reshape(len(values))
    if np.issubdtype(values.dtype, np.floating) and not np.all(values == np.round(values)):
        return (values > 0.5).astype(int)
    return values.astype(int)


def confusion_matrix(y_true, y_pred, num_classes=None) -> np.ndarray:
    """Return counts[i, j] = number of images of true class i predicted as class j.

    >>> confusion_matrix([0, 1, 1, 2], [0, 1, 2, 2])
    array([[1, 0, 0],
           [0, 1, 1],
           [0, 0, 1]])
    """
    true, pred = as_labels(y_true), as_labels(y_pred)
    if len(true) != len(pred):
        raise ValueError(f"y_true has {len(true)} labels but y_pred has {len(pred)}; they must match.")
    k = num_classes or int(max(true.max(initial=0), pred.max(initial=0)) + 1)
    counts = np.zeros((k, k), dtype=int)
    np.add.at(counts, (true, pred), 1)
    return counts


def plot_confusion_matrix(y_true, y_pred, class_names=None, *, normalize: bool = False, ax=None, title=None):
    """Return a confusion-matrix heat map: rows are true classes, columns predicted ones.

    ``y_pred`` may be labels or the model's class scores. With ``normalize=True`` each row is
    divided by its total, so a cell reads "fraction of class i predicted as j".
    """
    counts = confusion_matrix(y_true, y_pred, len(class_names) if class_names is not None else None)
    k = len(counts)
    names = list(class_names) if class_names is not None else [str(i) for i in range(k)]
    matrix = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1) if normalize else counts
    size = min(3.5 + 0.38 * k, WIDTH - 1.2)
    fig, ax = figure_and_axes(ax, width=size + 1.2, height=size)
    picture = ax.imshow(matrix, cmap="Blues", vmin=0, vmax=1 if normalize else None)
    fig.colorbar(picture, ax=ax, shrink=0.8, label="fraction of the true class" if normalize else "images")
    long_names = max(map(len, names)) > 3
    ax.set_xticks(range(k), names, rotation=45 if long_names else 0, ha="right" if long_names else "center")
    ax.set_yticks(range(k), names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    if k <= 20:
        threshold = 0.6 * matrix.max() if matrix.max() else 1
        for (row, col), value in np.ndenumerate(matrix):
            text = f"{value:.2f}" if normalize else str(value)
            ax.text(col, row, text, ha="center", va="center", fontsize=8 if k > 10 else 10,
                    color="white" if value > threshold else "black")
    accuracy = np.trace(counts) / max(counts.sum(), 1)
    ax.set_title(title or f"{counts.sum():,} test images, accuracy {accuracy:.3f}")
    return fig


def plot_examples(x, y, class_names=None, *, max_images: int = 20, ncols: int = 10):
    """Return a gallery of the first ``max_images`` images of ``x``, each titled with its label."""
    labels = as_labels(y)
    if len(x) != len(labels):
        raise ValueError(f"x and y must have the same length, got {len(x)} images and {len(labels)} labels.")
    if not len(x):
        raise ValueError("x holds no images: pass at least one.")
    shown = min(len(x), max_images)
    ncols = max(1, min(ncols, shown))
    rows = math.ceil(shown / ncols)
    fig = new_figure(height=max(1.5, rows * (WIDTH / max(ncols, 6)) * 1.2 + 0.2))
    for index, ax in zip(range(shown), image_grid(fig, shown, ncols)):
        image = as_image(x[index])
        ax.imshow(image, cmap="gray_r" if image.ndim == 2 else None)
        ax.set_title(class_names[labels[index]] if class_names is not None else str(labels[index]), fontsize=8)
    return fig


def plot_misclassified(x, y_true, y_pred, class_names=None, *, max_images: int = 16, ncols: int = 8):
    """Return a gallery of the first ``max_images`` misclassified images, titled true -> predicted.

    ``y_pred`` may be labels or class scores; with scores the title also gives the model's
    confidence in its (wrong) answer.
    """
    scores = to_numpy(y_pred)
    true, pred = as_labels(y_true), as_labels(scores)
    if not len(x) == len(true) == len(pred):
        raise ValueError(f"x, y_true and y_pred must have the same length, got {len(x)}, {len(true)}, {len(pred)}.")
    wrong = np.flatnonzero(true != pred)
    shown = wrong[:max_images]
    name = (lambda label: class_names[label]) if class_names is not None else str
    ncols = max(1, min(ncols, len(shown)))
    rows = math.ceil(len(shown) / ncols)
    fig = new_figure(height=max(1.5, rows * (WIDTH / max(ncols, 6)) * 1.25 + 0.5))
    if not len(shown):
        fig.text(0.5, 0.5, f"No misclassified images among {len(true):,}.", ha="center", va="center")
        return fig
    for index, ax in zip(shown, image_grid(fig, len(shown), ncols)):
        image = as_image(x[index])
        ax.imshow(image, cmap="gray_r" if image.ndim == 2 else None)
        confidence = f" ({scores[index].max():.0%})" if scores.ndim == 2 and scores.shape[1] > 1 else ""
        ax.set_title(f"{name(true[index])}\n-> {name(pred[index])}{confidence}", fontsize=8, color="firebrick")
    fig.suptitle(f"{len(shown)} of {len(wrong):,} misclassified images (true -> predicted) "
                 f"out of {len(true):,}")
    return fig

