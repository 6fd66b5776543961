"""Why training is hard and what helps: activation functions, gradient norms, optimizer paths."""

from __future__ import annotations

import math

import numpy as np
from matplotlib.ticker import MaxNLocator

from cnnlab.viz._figure import figure_and_axes, new_figure

# x values avoid 0 exactly, where ReLU-like functions have a kink.
_X = np.linspace(-5, 5, 1000)


def activation_values(name: str, x) -> np.ndarray:
    """Return Keras' activation ``name`` at ``x`` ("step", the perceptron's, is added to Keras' own).

    >>> activation_values("relu", [-1.0, 2.0]), activation_values("step", [-1.0, 2.0])
    (array([0., 2.]), array([0., 1.]))
    """
    x = np.asarray(x, dtype="float64")
    if name == "step":
        return (x >= 0).astype("float64")
    import keras

    try:
        function = keras.activations.get(name)
    except ValueError as error:
        raise ValueError(f"Unknown activation {name!r}: use 'step' or a Keras activation name such as "
                         f"'sigmoid', 'tanh', 'relu', 'leaky_relu', 'elu', 'gelu', 'swish'.") from error
    return keras.ops.convert_to_numpy(function(keras.ops.convert_to_tensor(x, dtype="float32"))).astype("float64")


def activation_derivative(name: str, x, h: float = 1e-3) -> np.ndarray:
    """Return the derivative of activation ``name`` at ``x`` (central differences, exact away from kinks).

    >>> activation_derivative("sigmoid", [0.0]).round(4)
    array([0.25])
    """
    x = np.asarray(x, dtype="float64")
    return (activation_values(name, x + h) - activation_values(name, x - h)) / (2 * h)


def _break_jumps(values: np.ndarray) -> np.ndarray:
    """Return ``values`` with NaN after each jump, so a plot does not draw a false vertical segment."""
    values = values.copy()
    values[1:][np.abs(np.diff(values)) > 0.1] = np.nan
    return values


def plot_activations(names=("sigmoid", "tanh", "relu", "leaky_relu"), *, derivatives: bool = True):
    """Return one panel per activation function, with its derivative dashed if ``derivatives``.

    The sigmoid's derivative is annotated at its peak, 0.25: each sigmoid layer multiplies the
    backpropagated gradient by at most a quarter, the root of vanishing gradients.
    """
    if isinstance(names, str):
        names = [names]
    columns = min(len(names), 4)
    rows = math.ceil(len(names) / columns)
    fig = new_figure(height=2.8 * rows + 0.3)
    for index, name in enumerate(names):
        ax = fig.add_subplot(rows, columns, index + 1)
        ax.plot(_X, _break_jumps(activation_values(name, _X)), label="f(x)", linewidth=2)
        if derivatives:
            slope = activation_derivative(name, _X)
            ax.plot(_X, _break_jumps(slope), "--", label="f'(x)", linewidth=1.5)
            if name == "sigmoid":
                peak = int(np.argmax(slope))
                ax.annotate(f"max {slope[peak]:.2f}", xy=(_X[peak], slope[peak]), xytext=(1.2, 0.6),
                            arrowprops=dict(arrowstyle="->"), fontsize=9)
        ax.axhline(0, color="grey", linewidth=0.5)
        ax.axvline(0, color="grey", linewidth=0.5)
        ax.set_title(name)
        ax.set_xlabel("x")
        ax.grid(alpha=0.3)
        if index == 0:
            ax.legend(fontsize=8, loc="upper left")
    return fig


def plot_gradient_norms(norms, *, log: bool = True, layer_names=None, ax=None, title=None):
    """Return per-layer gradient norms, one line per network (e.g. per activation), input side on the left.

    ``norms`` maps a label to a sequence of norms, first layer first. Vanishing gradients show
    as lines that fall by orders of magnitude towards the input (use the log scale).
    """
    if not isinstance(norms, dict) or not norms:
        raise TypeError("norms must be a non-empty dict: label -> sequence of per-layer gradient norms.")
    fig, ax = figure_and_axes(ax, width=6.5, height=4.0)
    for label, values in norms.items():
        values = np.asarray(values, dtype=float).reshape(-1)
        ax.plot(np.arange(1, len(values) + 1), values, "-o", markersize=4, label=str(label))
    if log:
        ax.set_yscale("log")
    if layer_names is not None:
        ax.set_xticks(np.arange(1, len(layer_names) + 1), layer_names, rotation=45, ha="right")
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("layer (1 = closest to the input)")
    ax.set_ylabel("gradient norm" + (" (log scale)" if log else ""))
    ax.grid(alpha=0.3, which="both" if log else "major")
    ax.legend(fontsize=8)
    ax.set_title(title or "Gradient norm per layer")
    return fig


def _surface_grid(surface, xs, ys):
    xx, yy = np.meshgrid(xs, ys)
    try:
        zz = np.asarray(surface(xx, yy), dtype=float)
    except (TypeError, ValueError):
        zz = None
    if zz is None or zz.shape != xx.shape:
        # A surface written for scalars: evaluate point by point.
        zz = np.vectorize(lambda a, b: float(surface(a, b)))(xx, yy)
    return xx, yy, zz


def plot_optimizer_paths(paths, surface, *, bounds=None, levels: int = 30, ax=None, title=None):
    """Return the contour map of ``surface(x, y)`` with each optimizer's path drawn from start to end.

    ``paths`` maps an optimizer's name to its (steps, 2) positions; ``bounds`` is
    ``((x_min, x_max), (y_min, y_max))``, by default the paths' extent with a margin.
    """
    if not isinstance(paths, dict) or not paths:
        raise TypeError("paths must be a non-empty dict: optimizer name -> (steps, 2) array of positions.")
    arrays = {}
    for name, path in paths.items():
        array = np.asarray(path, dtype=float)
        if array.ndim != 2 or array.shape[1] != 2:
            raise ValueError(f"The path of {name!r} must have shape (steps, 2), got {array.shape}.")
        arrays[name] = array
    if bounds is None:
        stacked = np.concatenate(list(arrays.values()))
        finite = stacked[np.all(np.isfinite(stacked), axis=1)]
        low, high = finite.min(axis=0), finite.max(axis=0)
        margin = 0.2 * (high - low) + 0.5
        bounds = ((low[0] - margin[0], high[0] + margin[0]), (low[1] - margin[1], high[1] + margin[1]))
    (x_min, x_max), (y_min, y_max) = bounds
    xx, yy, zz = _surface_grid(surface, np.linspace(x_min, x_max, 300), np.linspace(y_min, y_max, 300))

    fig, ax = figure_and_axes(ax, width=7.0, height=5.5)
    filled = ax.contourf(xx, yy, zz, levels=levels, cmap="viridis", alpha=0.8)
    ax.contour(xx, yy, zz, levels=levels, colors="white", linewidths=0.3, alpha=0.6)
    fig.colorbar(filled, ax=ax, shrink=0.8, label="loss")
    # Paths often run on top of each other (every optimizer first slides down the same
    # valley), so each gets its own colour, line style and marker, and earlier ones lie on top.
    colours = ["tab:red", "black", "tab:orange", "magenta", "tab:cyan", "white"]
    styles = ["-", "--", ":", "-.", (0, (6, 2, 1, 2, 1, 2)), (0, (1, 3))]
    markers = ["o", "s", "^", "D", "v", "x"]
    for index, (name, path) in enumerate(arrays.items()):
        colour = colours[index % len(colours)]
        ax.plot(path[:, 0], path[:, 1], linestyle=styles[index % len(styles)],
                marker=markers[index % len(markers)], markevery=max(1, len(path) // 25), color=colour,
                markersize=4, linewidth=2.2 if index == 0 else 1.5, zorder=20 - index,
                label=f"{name} ({len(path) - 1} steps)")
        ax.plot(*path[-1], "*", color=colour, markersize=14, markeredgecolor="white", zorder=30)
    for index, path in enumerate(arrays.values()):
        ax.plot(*path[0], "s", color="white", markeredgecolor="black", markersize=8,
                label="start" if index == 0 else None)
    ax.set_xlim(x_min, x_max)
    ax.set_ylim(y_min, y_max)
    ax.set_xlabel("$w_1$")
    ax.set_ylabel("$w_2$")
    ax.legend(fontsize=8, loc="best", framealpha=0.9)
    ax.set_title(title or "Optimizer paths (star = where each one ended)")
    return fig
