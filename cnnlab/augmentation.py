"""Data augmentation helpers: augmented copies of one image, their grid, image folders per class.

The augmentation itself is the lesson's (Keras preprocessing layers, written out in
lesson 12); this module only takes away the plumbing around it::

    copies = augmented_copies(augment, image, 8)       # 8 random versions of one image
    plot_augmented(copies)                              # a grid on a fixed grey scale
    write_class_folders(x, y, names, "/tmp/fashion")    # one folder of PNG files per class
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from cnnlab.viz._figure import WIDTH, as_image, image_grid, new_figure, to_numpy


def augmented_copies(augment, image, count: int) -> np.ndarray:
    """Return ``count`` random versions of one (H, W, C) image, as ``augment`` makes them in training.

    ``augment`` is a callable such as a ``keras.Sequential`` of preprocessing layers; it gets
    the image repeated ``count`` times as one batch, with ``training=True``.
    """
    image = np.asarray(image, dtype=np.float32)
    if image.ndim != 3:
        raise ValueError(f"Expected one image of shape (height, width, channels), got shape {image.shape}. "
                         "Add a channel axis to a grey image: image[..., None].")
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}.")
    batch = np.repeat(image[np.newaxis], count, axis=0)
    return to_numpy(augment(batch, training=True))


def plot_augmented(images, titles=None, *, value_range=(0, 255), ncols: int = 8):
    """Return a grid of images drawn on one fixed grey (or colour) scale, so brightness and contrast changes show.

    ``value_range`` is the pixel range of the images ((0, 255) for raw pixels, (0, 1) for
    scaled ones). Grey images are drawn dark on light, as the course's other galleries.
    """
    images = to_numpy(images)
    if not len(images):
        raise ValueError("images holds no images: pass at least one.")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"Expected one title per image, got {len(titles)} titles for {len(images)} images.")
    low, high = value_range
    ncols = max(1, min(ncols, len(images)))
    rows = -(-len(images) // ncols)
    fig = new_figure(height=max(1.5, rows * (WIDTH / max(ncols, 6)) * 1.2 + 0.2))
    for index, ax in enumerate(image_grid(fig, len(images), ncols)):
        image = as_image(images[index])
        if image.ndim == 2:
            ax.imshow(image, cmap="gray_r", vmin=low, vmax=high)
        else:
            ax.imshow(np.clip((image - low) / (high - low), 0, 1))
        if titles is not None:
            ax.set_title(str(titles[index]), fontsize=8)
    return fig


def folder_name(class_name: str) -> str:
    """Return a class name as a safe folder name: characters other than letters, digits, - and _ become _.

    >>> folder_name("T-shirt/top"), folder_name("Ankle boot")
    ('T-shirt_top', 'Ankle_boot')
    """
    return re.sub(r"[^A-Za-z0-9_-]", "_", class_name)


def write_class_folders(x, y, class_names, root) -> dict[str, int]:
    """Write each image of ``x`` as ``root/<class folder>/<index>.png``; return the count per folder.

    ``x`` holds grey (N, H, W) or (N, H, W, 1) images, or RGB (N, H, W, 3), with values 0-255;
    ``y`` integer labels indexing ``class_names``. Folder names come from :func:`folder_name`
    (a ``/`` cannot be in one). This is the layout ``keras.utils.image_dataset_from_directory``
    reads: one folder per class.
    """
    from PIL import Image

    x = np.asarray(x)
    y = np.asarray(y).astype(int).reshape(-1)
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same length, got {len(x)} images and {len(y)} labels.")
    if x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.ndim not in (3, 4) or (x.ndim == 4 and x.shape[-1] != 3):
        raise ValueError(f"Expected images of shape (N, H, W), (N, H, W, 1) or (N, H, W, 3), got {x.shape}.")
    if len(y) and (y.min() < 0 or y.max() >= len(class_names)):
        raise ValueError(f"Labels must index class_names (0..{len(class_names) - 1}), got {y.min()}..{y.max()}.")
    names = [folder_name(name) for name in class_names]
    if len(set(names)) != len(names):
        raise ValueError(f"Two classes get the same folder name: {names}. Rename the classes.")
    root = Path(root)
    counts = {}
    for index, (image, label) in enumerate(zip(x, y)):
        folder = root / names[label]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(folder / f"{index:05d}.png")
        counts[names[label]] = counts.get(names[label], 0) + 1
    return dict(sorted(counts.items()))


def plot_runs(runs, value: str = "gap", *, by: str = "augmentation", seed: str = "seed"):
    """Return bars of ``runs[value]`` per seed, one colour per setting in ``runs[by]`` (a table with one row per run)."""
    settings = list(dict.fromkeys(runs[by]))
    seeds = list(dict.fromkeys(runs[seed]))
    fig = new_figure(width=6, height=3)
    ax = fig.add_subplot()
    width = 0.8 / len(settings)
    for k, setting in enumerate(settings):
        rows = runs[runs[by] == setting].set_index(seed).reindex(seeds)
        ax.bar(np.arange(len(seeds)) + (k - (len(settings) - 1) / 2) * width, rows[value], width=width,
               label=f"{by}: {setting}")
    ax.set_xticks(range(len(seeds)), [f"{seed} {s}" for s in seeds])
    ax.set_ylabel(value)
    ax.axhline(0, color="black", linewidth=0.5)
    ax.legend(fontsize=8)
    return fig
