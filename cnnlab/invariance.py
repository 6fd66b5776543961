"""How much feature maps change when the image moves by a pixel, before and after pooling.

A convolution is *equivariant* to shifts: move the image one pixel right and its feature maps
move one pixel right too, so compared position by position they are different arrays.
Pooling summarizes each window by one number (its maximum or its mean), so a small move
inside a window changes the pooled map much less: pooling makes the features nearly
*invariant* to small shifts. :func:`shift_sensitivity` measures that as a number, the
relative change ``||f(x) - f(shift(x))|| / ||f(x)||`` averaged over images and shifts.
"""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd

__all__ = ["shift_images", "relative_change", "pool", "shift_sensitivity"]

POOLS = ("max", "average")


def shift_images(images, dy: int = 0, dx: int = 1) -> np.ndarray:
    """Return ``images`` (N, H, W) or (N, H, W, C) moved ``dy`` pixels down and ``dx`` right, zeros filling in.

    >>> shift_images(np.arange(1, 5).reshape(1, 1, 4), dx=1)
    array([[[0, 1, 2, 3]]])
    >>> shift_images(np.arange(1, 5).reshape(1, 1, 4), dx=-2)
    array([[[3, 4, 0, 0]]])
    """
    array = np.asarray(images)
    if array.ndim not in (3, 4):
        raise ValueError(f"Expected a batch of images (N, H, W) or (N, H, W, C), got shape {array.shape}. "
                         "For one image, pass image[None].")
    for name, step, size in (("dy", dy, array.shape[1]), ("dx", dx, array.shape[2])):
        if isinstance(step, bool) or not isinstance(step, numbers.Integral):
            raise ValueError(f"{name} must be a whole number of pixels, got {step!r}.")
        if abs(step) >= size:
            raise ValueError(f"{name}={step} moves the image out of its {size} pixels; use |{name}| < {size}.")
    moved = np.zeros_like(array)
    rows_to, rows_from = _overlap(dy, array.shape[1])
    cols_to, cols_from = _overlap(dx, array.shape[2])
    moved[:, rows_to, cols_to] = array[:, rows_from, cols_from]
    return moved


def _overlap(step: int, size: int) -> tuple[slice, slice]:
    """Return (destination, source) slices of one axis moved by ``step``."""
    if step >= 0:
        return slice(step, size), slice(0, size - step)
    return slice(0, size + step), slice(-step, size)


def relative_change(before, after) -> float:
    """Return ``||before - after|| / ||before||`` per example, averaged over the batch (first axis).

    >>> relative_change(np.array([[3.0, 4.0]]), np.array([[3.0, 0.0]]))
    0.8
    """
    a = np.asarray(before, dtype=np.float64)
    b = np.asarray(after, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"Cannot compare arrays of shapes {a.shape} and {b.shape}: they must match.")
    a, b = a.reshape(len(a), -1), b.reshape(len(b), -1)
    norms = np.linalg.norm(a, axis=1)
    if np.any(norms == 0):
        raise ValueError("An example's first array is all zeros, so a relative change is undefined; "
                         "drop blank images (or feature maps) before measuring.")
    return float(np.mean(np.linalg.norm(a - b, axis=1) / norms))


def pool(maps, kind: str = "max", size: int = 2) -> np.ndarray:
    """Return (N, H, W, C) ``maps`` pooled by ``keras.ops`` over ``size`` x ``size`` windows, stride ``size``.

    >>> x = np.array([1, 2, 5, 0, 3, 4, 1, 1, 0, 0, 2, 6, 0, 8, 2, 2], "float32").reshape(1, 4, 4, 1)
    >>> pool(x, "max")[0, ..., 0], pool(x, "average")[0, ..., 0]
    (array([[4., 5.],
           [8., 6.]], dtype=float32), array([[2.5 , 1.75],
           [2.  , 3.  ]], dtype=float32))
    """
    from keras import ops

    if kind not in POOLS:
        raise ValueError(f"kind must be one of {POOLS}, got {kind!r}.")
    if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1:
        raise ValueError(f"size must be a positive integer, got {size!r}.")
    array = np.asarray(maps, dtype=np.float32)
    if array.ndim != 4:
        raise ValueError(f"Expected feature maps of shape (N, H, W, C), got shape {array.shape}.")
    if size == 1:
        return array
    op = ops.max_pool if kind == "max" else ops.average_pool
    return ops.convert_to_numpy(op(array, pool_size=size, strides=size, padding="valid"))


def shift_sensitivity(feature_fn, images, pool_sizes=(1, 2, 4), shifts=((0, 1), (1, 0))) -> pd.DataFrame:
    """Return the relative change of pooled feature maps when the images move, per pool size and kind.

    ``feature_fn`` maps a batch of images to (N, H, W, C) feature maps (a conv layer, a model,
    or a function); ``shifts`` are ``(dy, dx)`` moves, each measured and then averaged. Row
    ``1`` is no pooling at all. A change of 0 means the maps did not move; 1 is as large as the maps.

    >>> images = np.zeros((1, 8, 8, 1), "float32"); images[0, 2:6, 2] = 1.0   # a vertical bar
    >>> table = shift_sensitivity(lambda x: x, images, pool_sizes=(1, 2), shifts=[(0, 1), (0, -1)])
    >>> table.round(3).to_dict(orient="index")   # moved right, the bar stays in its 2x2 windows
    {1: {'max': 1.414, 'average': 1.414}, 2: {'max': 0.707, 'average': 0.707}}
    """
    array = np.asarray(images, dtype=np.float32)
    base = _maps(feature_fn, array)
    moved = [_maps(feature_fn, shift_images(array, dy, dx)) for dy, dx in shifts]
    if not moved:
        raise ValueError("shifts is empty: give at least one (dy, dx) move, e.g. [(0, 1)].")
    rows = {}
    for size in pool_sizes:
        rows[size] = {kind: float(np.mean([relative_change(pool(base, kind, size), pool(m, kind, size))
                                           for m in moved])) for kind in POOLS}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "pool size"
    return table


def _maps(feature_fn, images) -> np.ndarray:
    from keras import ops

    maps = ops.convert_to_numpy(feature_fn(images))
    if maps.ndim != 4:
        raise ValueError(f"feature_fn must return feature maps of shape (N, H, W, C), got shape {maps.shape}.")
    return maps
