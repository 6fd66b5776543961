"""The playground's pure parts: 2-D toy tasks, the small network it trains, its decision surface."""

from __future__ import annotations

import keras
import numpy as np

TASKS = ("xor", "circles", "spirals", "blobs")
ACTIVATIONS = ("tanh", "relu", "sigmoid", "leaky_relu", "linear")


def make_task(name: str, n: int = 400, noise: float = 0.1, seed: int = 0):
    """Return ``(x, y)``: ``n`` points in [-1, 1]^2 (float32) and their 0/1 labels for a toy task.

    >>> x, y = make_task("xor", n=8, noise=0.0)
    >>> bool(((x[:, 0] * x[:, 1] < 0) == (y == 1)).all())
    True
    """
    rng = np.random.default_rng(seed)
    half = n // 2
    if name == "xor":
        x = rng.uniform(-1, 1, size=(n, 2))
        x += np.sign(x) * 0.05  # keep points off the axes, where the label flips
        y = (x[:, 0] * x[:, 1] < 0).astype(int)
    elif name == "circles":
        radius = np.concatenate([rng.uniform(0.0, 0.4, half), rng.uniform(0.65, 0.95, n - half)])
        angle = rng.uniform(0, 2 * np.pi, n)
        x = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)
        y = (np.arange(n) >= half).astype(int)
    elif name == "spirals":
        t = np.sqrt(rng.uniform(0.05, 1.0, n)) * 3 * np.pi
        arm = (np.arange(n) >= half).astype(int)
        angle = t + np.pi * arm
        x = np.stack([t * np.cos(angle), t * np.sin(angle)], axis=1) / (3 * np.pi)
        y = arm
    elif name == "blobs":
        centers = np.array([[-0.5, -0.5], [0.5, 0.5]])
        y = (np.arange(n) >= half).astype(int)
        x = centers[y] + rng.normal(scale=0.25, size=(n, 2))
    else:
        raise ValueError(f"unknown task {name!r}: choose one of {', '.join(TASKS)}")
    x = x + rng.normal(scale=noise, size=x.shape)
    order = rng.permutation(n)
    return np.clip(x[order], -1, 1).astype("float32"), y[order]


def build_mlp(hidden=(4,), activation: str = "tanh", lr: float = 0.03, l2: float = 0.0,
              seed: int = 0) -> keras.Model:
    """Return a compiled 2-input MLP with ``hidden`` layer sizes and a sigmoid output, trained by SGD."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}: choose one of {', '.join(ACTIVATIONS)}")
    regularizer = keras.regularizers.L2(l2) if l2 > 0 else None
    layers = [keras.Input((2,))]
    for i, units in enumerate(hidden):
        layers.append(keras.layers.Dense(int(units), activation=activation, kernel_regularizer=regularizer,
                                         kernel_initializer=keras.initializers.GlorotUniform(seed + i)))
    layers.append(keras.layers.Dense(1, activation="sigmoid", kernel_regularizer=regularizer,
                                     kernel_initializer=keras.initializers.GlorotUniform(seed + 99)))
    model = keras.Sequential(layers)
    model.compile(optimizer=keras.optimizers.SGD(lr), loss="binary_crossentropy", metrics=["accuracy"])
    return model


def parse_hidden(text: str) -> tuple[int, ...]:
    """Return hidden-layer sizes from text such as ``"8, 4"`` (an empty text means no hidden layer).

    >>> parse_hidden("8, 4")
    (8, 4)
    """
    parts = [p for p in text.replace(" ", "").split(",") if p]
    try:
        sizes = tuple(int(p) for p in parts)
    except ValueError:
        raise ValueError(f"hidden sizes {text!r} are not whole numbers: write them like '8, 4'") from None
    if any(s < 1 or s > 256 for s in sizes) or len(sizes) > 6:
        raise ValueError(f"hidden sizes {text!r}: use at most 6 layers of 1 to 256 units")
    return sizes


def decision_surface(model: keras.Model, resolution: int = 80):
    """Return ``(xs, ys, p)``: a grid over [-1, 1]^2 and the model's probability of class 1 on it."""
    xs = ys = np.linspace(-1, 1, resolution, dtype="float32")
    grid = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2)
    p = keras.ops.convert_to_numpy(model(grid, training=False)).reshape(resolution, resolution)
    return xs, ys, p


def draw_playground(fig, surface, x, y, history) -> None:
    """Draw the decision surface with the points on the left and the training curves on the right."""
    from matplotlib.ticker import MaxNLocator

    fig.clear()
    left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1]})
    xs, ys, p = surface
    left.contourf(xs, ys, p, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.6)
    left.contour(xs, ys, p, levels=[0.5], colors="k", linewidths=1)
    left.scatter(x[:, 0], x[:, 1], c=y, cmap="RdBu_r", vmin=-0.3, vmax=1.3, edgecolors="white",
                 linewidths=0.4, s=16)
    left.set_aspect("equal")
    left.set_xlabel("$x_1$")
    left.set_ylabel("$x_2$")
    left.set_xticks([-1, 0, 1])
    left.set_yticks([-1, 0, 1])
    epochs = np.arange(1, len(history) + 1)
    if history:
        left.set_title(f"P(class 1) after {len(history)} epochs (line: 0.5)", fontsize=9)
        right.plot(epochs, [h["loss"] for h in history], "-", label="training loss")
        right.plot(epochs, [h["accuracy"] for h in history], "--", label="training accuracy")
        right.legend(loc="center right", fontsize=8)
        right.set_title(f"loss {history[-1]['loss']:.3f}, accuracy {history[-1]['accuracy']:.2f}",
                        fontsize=9)
    else:
        left.set_title("P(class 1) of the untrained network", fontsize=9)
        right.text(0.5, 0.5, "not trained yet: press Train", ha="center", va="center",
                   transform=right.transAxes, color="0.4")
        right.set_title("training curves", fontsize=9)
    right.set_xlabel("epoch")
    right.set_ylabel("loss, accuracy")
    right.xaxis.set_major_locator(MaxNLocator(integer=True))
    right.grid(alpha=0.3)
    fig.subplots_adjust(left=0.08, right=0.97, bottom=0.15, top=0.9, wspace=0.3)
