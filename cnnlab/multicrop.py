"""Crops for training and for test-time multi-crop: random crops, the five standard crops, flips.

A network trained on random ``size`` x ``size`` crops of its images is evaluated on crops of the
same size. One centre crop is the cheap way; averaging the predicted probabilities over the four
corner crops and the centre crop (and their mirror images: ten crops, as AlexNet did) usually
buys a little accuracy for 5 or 10 times the inference cost.

>>> import numpy as np
>>> images = np.arange(2 * 4 * 4).reshape(2, 4, 4, 1)
>>> five_crops(images, 3).shape  # (crops, images, height, width, channels)
(5, 2, 3, 3, 1)
>>> crop_offsets(28, 24)  # (top, left) of the four corners and the centre
[(0, 0), (0, 4), (4, 0), (4, 4), (2, 2)]
"""

from __future__ import annotations

import numpy as np

__all__ = ["crop_offsets", "center_crop", "five_crops", "random_crops", "multicrop_predict"]


def _check(images, size: int) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"expected a batch of images shaped (count, height, width, channels), got shape "
                         f"{images.shape}; add a channel axis with images[..., np.newaxis].")
    height, width = images.shape[1:3]
    if not 1 <= size <= min(height, width):
        raise ValueError(f"crop size {size} does not fit in {height}x{width} images: choose 1..{min(height, width)}.")
    return images


def crop_offsets(image_size: int, size: int) -> list[tuple[int, int]]:
    """Return the (top, left) corners of the five standard crops: four corners, then the centre.

    >>> crop_offsets(5, 3)
    [(0, 0), (0, 2), (2, 0), (2, 2), (1, 1)]
    """
    far, middle = image_size - size, (image_size - size) // 2
    return [(0, 0), (0, far), (far, 0), (far, far), (middle, middle)]


def center_crop(images, size: int) -> np.ndarray:
    """Return the centre ``size`` x ``size`` crop of every image (square images)."""
    images = _check(images, size)
    top, left = crop_offsets(images.shape[1], size)[-1]
    return images[:, top:top + size, left:left + size]


def five_crops(images, size: int, flip: bool = False) -> np.ndarray:
    """Return the five standard crops of every image, shaped (5, count, size, size, channels).

    With ``flip=True`` the mirror images' five crops follow: (10, count, size, size, channels).
    """
    images = _check(images, size)
    crops = [images[:, t:t + size, l:l + size] for t, l in crop_offsets(images.shape[1], size)]
    if flip:
        crops += [crop[:, :, ::-1] for crop in crops]
    return np.stack(crops)


def random_crops(images, size: int, rng: np.random.Generator, flip: bool = False) -> np.ndarray:
    """Return one random ``size`` x ``size`` crop of every image (mirrored at random with ``flip``)."""
    images = _check(images, size)
    count, height, width = images.shape[:3]
    tops = rng.integers(0, height - size + 1, count)
    lefts = rng.integers(0, width - size + 1, count)
    rows = tops[:, None] + np.arange(size)  # (count, size)
    cols = lefts[:, None] + np.arange(size)
    crops = images[np.arange(count)[:, None, None], rows[:, :, None], cols[:, None, :]]
    if flip:
        mirrored = rng.random(count) < 0.5
        crops[mirrored] = crops[mirrored, :, ::-1]
    return crops


def multicrop_predict(model, images, size: int, flip: bool = False, batch_size: int = 1000) -> np.ndarray:
    """Return the model's class probabilities averaged over the five (or ten) crops of every image."""
    crops = five_crops(images, size, flip=flip)
    scores = [np.asarray(model.predict(c, batch_size=batch_size, verbose=0)) for c in crops]
    return np.mean(scores, axis=0)
