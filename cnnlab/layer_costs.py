"""Per-layer rules: the multiply-accumulates (MACs) of one call and the formula of its parameters.

Conventions (the same as :mod:`cnnlab.params`, which uses these rules):

* One multiply-add is one MAC; FLOPs = 2 x MACs. Bias additions are not counted, so a dense
  layer with ``n`` inputs and ``m`` units costs ``n*m`` MACs, the figure papers report.
* MACs are for one example at inference. Layers that only move, compare or add numbers
  (pooling, activations, Add, Concatenate, Flatten, Reshape, padding, cropping) cost 0 MACs;
  Dropout, TunableDropout and the random augmentation layers are the identity at inference
  and cost 0.
* BatchNormalization costs 0: at inference its statistics are fixed, so it folds into the
  weights and bias of the convolution or dense layer before it, which is how papers and
  deployment tools count (MobileNetV2's 300 M MACs is its convolutions and dense layer alone).
* Element-wise scaling that does not fold is a multiply-add per output value: Rescaling,
  Normalization; LayerNormalization costs 2 (its variance and its scale-and-shift, computed
  per example); Multiply costs one per extra input; local response normalization costs
  ``2*depth_radius + 2`` (the window's sum of squares and its scaling).
* Resizing costs 4 MACs per output value for ``bilinear``, 16 for ``bicubic``, 0 for
  ``nearest``; other interpolations are unknown.
* A layer without a rule gets ``None`` (unknown), never 0: the caller warns.

A rule takes ``(layer, input_shapes, output_shapes)`` (shapes with the batch axis first) and
returns ``(macs, formula)``; ``formula`` is a string of integers, ``*``, ``+`` and parentheses
that evaluates to the layer's parameter count, for instance ``(5*5*3+1)*200``.
"""

from __future__ import annotations

import math

import keras

from cnnlab.layers import LocalResponseNormalization, TunableDropout

__all__ = ["has_rule", "layer_cost", "weights_formula"]

L = keras.layers


def layer_cost(layer, input_shapes, output_shapes) -> tuple[int | None, str]:
    """Return ``(macs, formula)`` of one call of ``layer``; ``macs`` is None for an unknown layer."""
    for classes, rule in _RULES:
        if isinstance(layer, classes):
            return rule(layer, list(input_shapes), list(output_shapes))
    if _is_augmentation(layer):
        return 0, weights_formula(layer)
    return None, weights_formula(layer)


def has_rule(layer) -> bool:
    """Return True if :func:`layer_cost` knows the type of ``layer``."""
    return _is_augmentation(layer) or any(isinstance(layer, classes) for classes, _ in _RULES)


def weights_formula(layer) -> str:
    """Return the parameter formula read from the weight shapes, e.g. ``3*3*64*128 + 128``."""
    terms = ["*".join(str(d) for d in w.shape) or "1" for w in layer.weights]
    return " + ".join(terms) if terms else "0"


def _is_augmentation(layer) -> bool:
    # Keras' random augmentation layers (RandomFlip, RandomZoom, ...) share only their name.
    return type(layer).__name__.startswith("Random") and type(layer).__module__.startswith("keras")


def _elements(shape) -> int | None:
    """Values per example (batch axis dropped), or None when a size is unknown."""
    dims = tuple(shape)[1:]
    return None if any(d is None for d in dims) else math.prod(dims)


def _times(*factors) -> int | None:
    return None if any(f is None for f in factors) else math.prod(factors)


def _channels_and_positions(layer, shape):
    if getattr(layer, "data_format", "channels_last") == "channels_first":
        return shape[1], tuple(shape[2:])
    return shape[-1], tuple(shape[1:-1])


def _positions(spatial) -> int | None:
    return None if any(d is None for d in spatial) else math.prod(spatial)


def _k(kernel_size) -> str:
    return "*".join(str(k) for k in kernel_size)


def _times_units(fan_in: str, layer, units) -> str:
    """``(fan_in+1)*units`` with a bias, ``fan_in*units`` without."""
    return f"({fan_in}+1)*{units}" if layer.use_bias else f"{fan_in}*{units}"


def _dense(layer, ins, outs):
    n_in = ins[0][-1]
    positions = _positions(tuple(outs[0])[1:-1])  # a dense layer on a sequence runs per step
    return _times(positions, n_in, layer.units), _times_units(str(n_in), layer, layer.units)


def _conv(layer, ins, outs):
    c_in, _ = _channels_and_positions(layer, ins[0])
    _, out_positions = _channels_and_positions(layer, outs[0])
    per_group = c_in // layer.groups
    macs = _times(_positions(out_positions), layer.filters, math.prod(layer.kernel_size), per_group)
    return macs, _times_units(f"{_k(layer.kernel_size)}*{per_group}", layer, layer.filters)


def _conv_transpose(layer, ins, outs):
    # Every input value is spread over a kernel-sized patch of every output channel.
    c_in, in_positions = _channels_and_positions(layer, ins[0])
    macs = _times(_positions(in_positions), c_in, math.prod(layer.kernel_size), layer.filters)
    bias = f"+{layer.filters}" if layer.use_bias else ""
    return macs, f"{_k(layer.kernel_size)}*{c_in}*{layer.filters}{bias}"


def _depthwise(layer, ins, outs):
    c_in, _ = _channels_and_positions(layer, ins[0])
    _, out_positions = _channels_and_positions(layer, outs[0])
    m = layer.depth_multiplier
    macs = _times(_positions(out_positions), c_in, m, math.prod(layer.kernel_size))
    channels = f"{c_in}*{m}" if m != 1 else f"{c_in}"
    return macs, _times_units(_k(layer.kernel_size), layer, channels)


def _separable(layer, ins, outs):
    c_in, _ = _channels_and_positions(layer, ins[0])
    _, out_positions = _channels_and_positions(layer, outs[0])
    m = layer.depth_multiplier
    positions = _positions(out_positions)
    macs = _times(positions, c_in * m, math.prod(layer.kernel_size) + layer.filters)
    mid = f"{c_in}*{m}" if m != 1 else f"{c_in}"
    return macs, f"{_k(layer.kernel_size)}*{mid} + {_times_units(mid, layer, layer.filters)}"


def _per_output(macs_per_value):
    def rule(layer, ins, outs):
        return _times(_elements(outs[0]), macs_per_value(layer)), weights_formula(layer)
    return rule


def _batch_norm(layer, ins, outs):
    axes = layer.axis if isinstance(layer.axis, (list, tuple)) else [layer.axis]
    channels = math.prod(ins[0][a] for a in axes)
    n_vectors = len(layer.weights)
    return 0, f"{n_vectors}*{channels}" if n_vectors else "0"


def _layer_norm(layer, ins, outs):
    axes = layer.axis if isinstance(layer.axis, (list, tuple)) else [layer.axis]
    size = math.prod(ins[0][a] for a in axes)
    n_vectors = len(layer.weights)
    return _times(_elements(outs[0]), 2), f"{n_vectors}*{size}" if n_vectors else "0"


def _multiply(layer, ins, outs):
    return _times(_elements(outs[0]), len(ins) - 1), "0"


def _resizing(layer, ins, outs):
    per_value = {"nearest": 0, "bilinear": 4, "bicubic": 16}.get(layer.interpolation)
    return _times(_elements(outs[0]), per_value), "0"


def _free(layer, ins, outs):
    return 0, weights_formula(layer)


def _tunable_dropout(layer, ins, outs):
    return 0, "1"


_FREE = (
    L.InputLayer, L.MaxPooling1D, L.MaxPooling2D, L.MaxPooling3D, L.AveragePooling1D,
    L.AveragePooling2D, L.AveragePooling3D, L.GlobalMaxPooling1D, L.GlobalMaxPooling2D,
    L.GlobalMaxPooling3D, L.GlobalAveragePooling1D, L.GlobalAveragePooling2D,
    L.GlobalAveragePooling3D, L.Activation, L.ReLU, L.LeakyReLU, L.PReLU, L.ELU, L.Softmax,
    L.Add, L.Subtract, L.Average, L.Maximum, L.Minimum, L.Concatenate, L.Dropout,
    L.SpatialDropout1D, L.SpatialDropout2D, L.SpatialDropout3D, L.GaussianNoise,
    L.GaussianDropout, L.AlphaDropout, L.Flatten, L.Reshape, L.Permute, L.RepeatVector,
    L.ZeroPadding1D, L.ZeroPadding2D, L.ZeroPadding3D, L.Cropping1D, L.Cropping2D, L.Cropping3D,
    L.UpSampling1D, L.UpSampling2D, L.UpSampling3D, L.Identity, L.Embedding,
)

_RULES = [
    (L.Dense, _dense),
    ((L.Conv1D, L.Conv2D, L.Conv3D), _conv),
    ((L.Conv1DTranspose, L.Conv2DTranspose, L.Conv3DTranspose), _conv_transpose),
    ((L.DepthwiseConv1D, L.DepthwiseConv2D), _depthwise),
    ((L.SeparableConv1D, L.SeparableConv2D), _separable),
    (L.BatchNormalization, _batch_norm),
    (L.LayerNormalization, _layer_norm),
    ((L.Rescaling, L.Normalization), _per_output(lambda layer: 1)),
    (LocalResponseNormalization, _per_output(lambda layer: 2 * layer.depth_radius + 2)),
    (L.Multiply, _multiply),
    (L.Resizing, _resizing),
    (TunableDropout, _tunable_dropout),
    (_FREE, _free),
]
