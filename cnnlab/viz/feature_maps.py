"""How one image is transformed layer by layer: the feature maps of chosen layers.

Every filter of a conv layer produces one feature map; a layer with 32 filters turns the
image into a stack of 32 maps. :func:`feature_maps` returns them as arrays,
:func:`plot_feature_maps` draws them, one grid per layer.
"""

from __future__ import annotations

import math

import numpy as np

from cnnlab.viz import _layers
from cnnlab.viz._figure import WIDTH, image_grid, new_figure


def _chosen_layers(model, layers):
    if layers is None:
        chosen = [layer for layer, _ in _layers.walk(model) if _layers.is_conv(layer) or _layers.is_pool(layer)]
        if not chosen:
            raise ValueError(f"Model {model.name!r} has no conv or pooling layer; name the layers to "
                             f"show with layers=[...]. Its layers: {_layers.describe(model.layers)}.")
        return chosen
    if isinstance(layers, (str, int, _layers.keras.layers.Layer)):
        layers = [layers]
    return [_layers.find_layer(model, layer) for layer in layers]


def _as_batch(model, image) -> np.ndarray:
    """Return ``image`` as a batch of one in the shape the model's input expects."""
    _layers.check_built(model)
    expected = tuple(model.inputs[0].shape[1:])
    array = np.asarray(image, dtype=np.float32)
    if array.ndim == len(expected) - 1 and expected[-1] == 1:
        array = array[..., None]  # a grey (H, W) image for a model taking (H, W, 1)
    if array.ndim == len(expected):
        array = array[None]
    if array.ndim != len(expected) + 1 or array.shape[0] != 1:
        raise ValueError(
            f"Expected one image of shape {expected} (the model's input without the batch axis), "
            f"got shape {np.shape(image)}. Pass a single image, e.g. x_test[0]."
        )
    mismatch = [(want, got) for want, got in zip(expected, array.shape[1:]) if want is not None and want != got]
    if mismatch:
        raise ValueError(f"The model expects images of shape {expected}, got {array.shape[1:]}.")
    return array


def feature_maps(model, image, layers=None) -> dict[str, np.ndarray]:
    """Return ``{layer name: activation}`` for one image, without the batch axis.

    ``layers`` is a list of names, indices into ``model.layers`` or layers; by default every
    conv and pooling layer, nested models included, in model order.
    """
    from keras import ops

    chosen = _chosen_layers(model, layers)
    values = _layers.activation_function(model, chosen)(_as_batch(model, image))
    return {layer.name: ops.convert_to_numpy(values[layer.name])[0] for layer in chosen}


def plot_feature_maps(model, image, layers=None, *, max_channels: int = 16, ncols: int = 8):
    """Return a figure with one grid of feature maps per layer, at most ``max_channels`` each.

    Each grid is titled with the layer's name and its output shape, and says how many
    channels were left out. Every map has its own colour scale (yellow = its strongest
    response), since what matters is where a filter fires, not how strongly.
    """
    maps = feature_maps(model, image, layers)
    flat = [name for name, value in maps.items() if value.ndim != 3]
    if flat:
        raise ValueError(
            f"Layers {flat} do not output (height, width, channels) maps; only image-shaped outputs "
            f"can be drawn as feature maps. Use feature_maps(...) to get their values."
        )
    # One column count for every layer, so panels have the same size from grid to grid.
    ncols = max(1, min(ncols, max(min(value.shape[-1], max_channels) for value in maps.values())))
    rows = {name: math.ceil(min(value.shape[-1], max_channels) / ncols) for name, value in maps.items()}
    panel = WIDTH / ncols
    heights = [rows[name] * panel + 0.45 for name in maps]
    fig = new_figure(height=sum(heights))
    subfigures = np.atleast_1d(fig.subfigures(len(maps), 1, height_ratios=heights))
    for subfigure, (name, value) in zip(subfigures, maps.items()):
        channels = value.shape[-1]
        shown = min(channels, max_channels)
        for channel, ax in enumerate(image_grid(subfigure, shown, ncols)):
            ax.imshow(value[..., channel], cmap="viridis", interpolation="nearest")
            ax.set_title(str(channel), fontsize=7, pad=1)
        hidden = f" (first {shown} shown, {channels - shown} hidden)" if channels > shown else ""
        shape = "x".join(str(size) for size in value.shape)
        subfigure.suptitle(f"{name}: {shape}{hidden}", fontsize=10)
    return fig
