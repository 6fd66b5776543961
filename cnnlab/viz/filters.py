"""What a trained network's filters are: its kernels as small images, and the inputs they respond to.

:func:`plot_filters` draws a conv layer's weights directly. That is readable for the first
layer, whose kernels live in pixel space. Deeper kernels mix many feature maps, so
:func:`filter_patterns` shows instead what each filter responds to: starting from grey noise,
gradient ascent changes the input image to maximize the filter's mean activation.
"""

from __future__ import annotations

import math

import numpy as np

from cnnlab.viz import _layers
from cnnlab.viz._figure import WIDTH, image_grid, new_figure


def conv_layer(model, layer=None):
    """Return the conv layer named or indexed by ``layer`` (default: the model's first conv layer)."""
    convs = [candidate for candidate, _ in _layers.walk(model) if _layers.is_conv(candidate)]
    if layer is None:
        if not convs:
            raise ValueError(f"Model {model.name!r} has no Conv2D layer, so it has no filters to show.")
        return convs[0]
    found = _layers.find_layer(model, layer)
    if not _layers.is_conv(found):
        raise ValueError(
            f"Layer {found.name!r} is a {type(found).__name__}, not a convolution layer, so it has no "
            f"filters. Conv layers of this model: {_layers.describe(convs)}."
        )
    return found


def filter_weights(layer) -> np.ndarray:
    """Return a conv layer's kernels as (height, width, input channels, filters) NumPy weights.

    A depthwise kernel (one per input channel) is returned as (height, width, 1, filters).
    """
    if isinstance(layer, _layers.CONV_TYPES[1:]):  # depthwise or separable: per-channel kernels
        kernel = layer.depthwise_kernel if hasattr(layer, "depthwise_kernel") else layer.kernel
        weights = _layers.variable_values(kernel)
        return weights.reshape(weights.shape[0], weights.shape[1], 1, -1)
    return _layers.variable_values(layer.kernel)


def plot_filters(model, layer=None, *, input_channel=None, max_filters: int = 64, ncols: int = 8):
    """Return a grid of a conv layer's filters, one small image each, on one labelled colour scale.

    Kernels that see 3 input channels (a first layer on RGB images) are drawn in colour, all
    scaled together from their smallest to their largest weight. Otherwise each panel shows
    the weights for ``input_channel`` (an index), or their mean over input channels if None,
    on a shared red-blue scale centred on zero. ``layer`` is a name, an index into
    ``model.layers`` or the layer; by default the first conv layer.
    """
    layer = conv_layer(model, layer)
    weights = filter_weights(layer)
    _, _, channels, total = weights.shape
    shown = min(total, max_filters)
    colour = channels == 3 and input_channel is None
    if colour:
        low, high = float(weights.min()), float(weights.max())
        panels = (weights - low) / ((high - low) or 1.0)
        scale_note = f"RGB, weights {low:.2g}..{high:.2g} mapped to 0..1"
    else:
        if input_channel is not None:
            if not -channels <= input_channel < channels:
                raise IndexError(f"input_channel {input_channel} is out of range: layer "
                                 f"{layer.name!r} has {channels} input channels.")
            panels = weights[:, :, input_channel, :]
            scale_note = f"input channel {input_channel} of {channels}"
        elif channels == 1:
            panels = weights[:, :, 0, :]
            scale_note = "weights"
        else:
            panels = weights.mean(axis=2)
            scale_note = f"mean over {channels} input channels"
        limit = float(np.abs(panels[..., :shown]).max()) or 1.0

    ncols = max(1, min(ncols, shown))
    rows = math.ceil(shown / ncols)
    fig = new_figure(height=min(1.1 * rows * WIDTH / max(ncols, 4) + 0.8, 9))
    axes = image_grid(fig, shown, ncols)
    for index, ax in enumerate(axes):
        if colour:
            picture = ax.imshow(panels[..., index], interpolation="nearest")
        else:
            picture = ax.imshow(panels[..., index], cmap="RdBu_r", vmin=-limit, vmax=limit,
                                interpolation="nearest")
        ax.set_title(str(index), fontsize=8, pad=2)
    if not colour:
        fig.colorbar(picture, ax=axes, shrink=0.8, label=scale_note)
    hidden = f"; {total - shown} more not shown" if total > shown else ""
    kernel_shape = "x".join(str(size) for size in weights.shape)
    fig.suptitle(f"{layer.name}: {total} filters, kernel {kernel_shape} ({scale_note}){hidden}")
    return fig


def _value_and_grad(loss_fn, x):
    """Return ``(loss, d loss / d x)`` with the active backend's automatic differentiation.

    ``keras.ops`` has no gradient op, so this is the one place that speaks to each backend.
    """
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        x = tf.convert_to_tensor(x)
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = loss_fn(x)
        return loss, tape.gradient(loss, x)
    if backend == "jax":
        import jax

        return jax.value_and_grad(loss_fn)(x)
    if backend == "torch":
        x = keras.ops.convert_to_tensor(x).detach().requires_grad_(True)
        loss = loss_fn(x)
        loss.backward()
        return loss.detach(), x.grad
    raise NotImplementedError(f"Gradient ascent needs the tensorflow, jax or torch backend, not {backend!r}.")


def pattern_images(model, layer, filters=range(4), *, steps: int = 40, step_size: float = 0.05,
                   size=(64, 64), seed: int = 0) -> np.ndarray:
    """Return one input image per filter, grown by gradient ascent to maximize its mean activation.

    Shape (len(filters), height, width, channels). Each step moves every pixel by about
    ``step_size`` (the gradient is divided by its root mean square). ``size`` is used only
    when the model accepts any image size.
    """
    from keras import ops

    target = _layers.find_layer(model, layer)
    run = _layers.activation_function(model, [target])
    input_shape = tuple(model.inputs[0].shape[1:])
    if len(input_shape) != 3:
        raise ValueError(f"Gradient ascent needs an image model with (height, width, channels) input, "
                         f"got input shape {input_shape}.")
    height, width = (input_shape[0] or size[0], input_shape[1] or size[1])
    filters = list(filters)
    channels = target.output.shape[-1]
    bad = [f for f in filters if not 0 <= f < channels]
    if len(target.output.shape) != 4 or bad:
        raise ValueError(f"Layer {target.name!r} has output shape {target.output.shape}; gradient ascent "
                         f"needs a 4-D output with filters {filters} among its {channels} channels.")

    rng = np.random.default_rng(seed)
    images = 0.5 + 0.05 * rng.standard_normal((len(filters), height, width, input_shape[2]))
    one_hot = np.eye(channels, dtype="float32")[filters][:, None, None, :]

    def loss_fn(x):
        # Image i is scored only on filter filters[i]: the images are optimized independently.
        activation = run(x)[target.name]
        return ops.sum(ops.mean(activation * one_hot, axis=(1, 2)))

    images = images.astype("float32")
    for _ in range(steps):
        _, grad = _value_and_grad(loss_fn, ops.convert_to_tensor(images))
        grad = ops.convert_to_numpy(grad)
        rms = np.sqrt(np.mean(grad ** 2, axis=(1, 2, 3), keepdims=True)) + 1e-8
        images = images + step_size * grad / rms
    return images


def filter_patterns(model, layer, filters=range(4), *, steps: int = 40, step_size: float = 0.05,
                    size=(64, 64), seed: int = 0):
    """Return a figure of the input patterns that most excite each of ``filters`` in ``layer``.

    Each image is shown with its contrast stretched (mean to grey, +-3 standard deviations to
    black and white); see :func:`pattern_images` for the ascent itself.
    """
    images = pattern_images(model, layer, filters, steps=steps, step_size=step_size, size=size, seed=seed)
    filters = list(filters)
    ncols = min(len(filters), 8)
    rows = math.ceil(len(filters) / ncols)
    fig = new_figure(height=min(rows * (WIDTH / max(ncols, 4)) + 0.8, 12))
    for index, ax in zip(filters, image_grid(fig, len(filters), ncols)):
        image = images[filters.index(index)]
        stretched = np.clip(0.5 + (image - image.mean()) / (6 * (image.std() + 1e-8)), 0, 1)
        if stretched.shape[-1] == 1:
            ax.imshow(stretched[..., 0], cmap="gray", vmin=0, vmax=1)
        else:
            ax.imshow(stretched)
        ax.set_title(f"filter {index}", fontsize=9)
    name = _layers.find_layer(model, layer).name
    fig.suptitle(f"What excites filters of {name} ({steps} steps of gradient ascent)")
    return fig
