"""Convolution arithmetic: output sizes, parameters and multiply-accumulates (MACs) of one layer.

These are the formulas lesson 05 and 11 state, written so a learner can check them by hand.
One multiply-add is one MAC (FLOPs = 2 x MACs); the bias additions are not counted.
A single integer for a kernel or an output size means a square, as in Keras' 2D layers
(pass a tuple for 1D or 3D). Sizes follow Keras (channels last): ``same`` padding gives ``ceil(n / stride)`` outputs,
``valid`` padding keeps only the windows that fit, and an integer ``p`` pads ``p`` zeros on
each side first (what ``keras.layers.ZeroPadding2D(p)`` followed by a ``valid`` conv does).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

__all__ = ["output_size", "conv_params", "conv_macs", "separable_conv_macs",
           "compare_conv_costs", "dense_params"]


def output_size(input_size: int, kernel_size: int, stride: int = 1, padding: str | int = "valid",
                dilation: int = 1) -> int:
    """Return the number of outputs along one axis of a convolution or pooling.

    A 5x5 conv with stride 1 and ``same`` padding keeps a 28x28 image at 28; ``valid`` gives 24;
    input 13 with stride 5 and ``same`` padding gives 3; AlexNet's 11x11/4 conv on 227 gives 55:

    >>> output_size(28, 5, padding="same"), output_size(28, 5, padding="valid")
    (28, 24)
    >>> output_size(13, 5, stride=5, padding="same")
    3
    >>> output_size(227, 11, stride=4)
    55
    >>> output_size(7, 3, padding=1), output_size(7, 3, dilation=2)
    (7, 3)
    """
    _check_positive(input_size=input_size, kernel_size=kernel_size, stride=stride, dilation=dilation)
    if padding == "same":
        return math.ceil(input_size / stride)
    if padding == "valid":
        pad = 0
    elif isinstance(padding, numbers.Integral) and not isinstance(padding, bool):
        if padding < 0:
            raise ValueError(f"padding must be 'valid', 'same' or a non-negative integer, got {padding}.")
        pad = padding
    else:
        raise ValueError(f"padding must be 'valid', 'same' or a non-negative integer, got {padding!r}.")
    span = dilation * (kernel_size - 1) + 1
    padded = input_size + 2 * pad
    if span > padded:
        raise ValueError(
            f"The kernel covers {span} inputs (kernel_size={kernel_size}, dilation={dilation}) but the "
            f"padded input has only {padded} (input_size={input_size}, padding={padding!r}): the output "
            "would be empty. Use a smaller kernel or dilation, more padding, or padding='same'.")
    return (padded - span) // stride + 1


def conv_params(kernel_size: int | Sequence[int], in_channels: int, filters: int, use_bias: bool = True,
                groups: int = 1) -> int:
    """Return the number of parameters of a convolution: ``(kh*kw*in/groups + 1) * filters``.

    A 5x5 conv with 200 filters on an RGB image: (5*5*3+1)*200 parameters.

    >>> conv_params(5, 3, 200)
    15200
    >>> conv_params((3, 3), 96, 256)
    221440
    """
    kernel = _kernel_volume(kernel_size)
    _check_positive(in_channels=in_channels, filters=filters, groups=groups)
    _check_groups(in_channels, filters, groups)
    return (kernel * (in_channels // groups) + int(use_bias)) * filters


def conv_macs(output_size: int | Sequence[int], kernel_size: int | Sequence[int], in_channels: int,
              filters: int, groups: int = 1) -> int:
    """Return the multiply-accumulates of a convolution for one example (bias excluded).

    Every output value (positions x filters) needs one window: ``kh*kw*in/groups`` multiply-adds.
    A 5x5 conv with 200 filters and ``same`` padding on a 150x100x3 image:

    >>> conv_macs((150, 100), 5, 3, 200)
    225000000
    """
    positions = _kernel_volume(output_size, name="output_size")
    kernel = _kernel_volume(kernel_size)
    _check_positive(in_channels=in_channels, filters=filters, groups=groups)
    _check_groups(in_channels, filters, groups)
    return positions * filters * kernel * (in_channels // groups)


def separable_conv_macs(output_size: int | Sequence[int], kernel_size: int | Sequence[int],
                        in_channels: int, filters: int, depth_multiplier: int = 1) -> tuple[int, int]:
    """Return the (depthwise, pointwise) multiply-accumulates of a depthwise-separable convolution.

    On a 6x6x3 input with 3x3 filters and 5 outputs (``valid``, so 4x4 positions):

    >>> separable_conv_macs((4, 4), 3, 3, 5)
    (432, 240)
    """
    positions = _kernel_volume(output_size, name="output_size")
    kernel = _kernel_volume(kernel_size)
    _check_positive(in_channels=in_channels, filters=filters, depth_multiplier=depth_multiplier)
    depthwise = positions * in_channels * depth_multiplier * kernel
    pointwise = positions * in_channels * depth_multiplier * filters
    return depthwise, pointwise


def compare_conv_costs(input_size: int, kernel_size: int, in_channels: int, filters: int,
                       stride: int = 1, padding: str | int = "valid") -> dict[str, int]:
    """Return the MACs of a standard and of a depthwise-separable conv on a square input.

    >>> compare_conv_costs(6, 3, in_channels=3, filters=5)
    {'standard': 2160, 'depthwise': 432, 'pointwise': 240, 'separable': 672}
    """
    side = output_size(input_size, kernel_size, stride, padding)
    depthwise, pointwise = separable_conv_macs((side, side), kernel_size, in_channels, filters)
    return {"standard": conv_macs((side, side), kernel_size, in_channels, filters),
            "depthwise": depthwise, "pointwise": pointwise, "separable": depthwise + pointwise}


def dense_params(inputs: int, units: int, use_bias: bool = True) -> int:
    """Return the number of parameters of a dense layer: ``(inputs + 1) * units``.

    A 100x100 grey image flattened into 1,000 units needs 10 million weights (plus 1,000 biases):

    >>> dense_params(100 * 100, 1000, use_bias=False)
    10000000
    >>> dense_params(100 * 100, 1000)
    10001000
    """
    _check_positive(inputs=inputs, units=units)
    return (inputs + int(use_bias)) * units


def _kernel_volume(size, name: str = "kernel_size") -> int:
    # An integer means a square, as in keras.layers.Conv2D(kernel_size=5).
    sizes = (size, size) if isinstance(size, numbers.Integral) else tuple(size)
    if not sizes:
        raise ValueError(f"{name} must be a positive integer or a tuple of them, got {size!r}.")
    for value in sizes:
        _check_positive(**{name: value})
    return math.prod(sizes)


def _check_groups(in_channels: int, filters: int, groups: int) -> None:
    if in_channels % groups or filters % groups:
        raise ValueError(f"groups={groups} must divide both in_channels={in_channels} and filters={filters}.")


def _check_positive(**values) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")
