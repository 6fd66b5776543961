"""Classic hand-made kernels applied to real photos, with the convolution a Keras layer uses.

A convolution layer slides a small weight image (the kernel) over its input. Before any
learning, people designed such kernels by hand: edge detectors (Sobel), line detectors,
blurs, sharpening. :func:`apply_filter` runs one through ``keras.ops.conv``, the very op
``keras.layers.Conv2D`` calls, so what a learner sees here is exactly what a conv layer with
those weights computes. Like every deep-learning library, that op does not flip the kernel
(mathematicians call it cross-correlation), so a Sobel-x kernel gives a positive response
where brightness increases from left to right.
"""

from __future__ import annotations

import numpy as np

from cnnlab.viz._figure import as_image, new_figure

_SOBEL_X = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float32)
_BINOMIAL_5 = np.array([1, 4, 6, 4, 1], dtype=np.float32)

KERNELS: dict[str, np.ndarray] = {
    # Line detectors (Gonzalez & Woods): a bright line one pixel wide on a flat background.
    "vertical_line": np.array([[-1, 2, -1]] * 3, dtype=np.float32),
    "horizontal_line": np.array([[-1, 2, -1]] * 3, dtype=np.float32).T.copy(),
    "sobel_x": _SOBEL_X,
    "sobel_y": _SOBEL_X.T.copy(),
    "laplacian": np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=np.float32),
    "box_blur": np.full((3, 3), 1 / 9, dtype=np.float32),
    "gaussian_blur": np.outer(_BINOMIAL_5, _BINOMIAL_5) / 256.0,
    "sharpen": np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], dtype=np.float32),
}

SAMPLE_IMAGES = ("astronaut", "camera", "coffee", "chelsea")


def sample_image(name: str = "camera", *, grey: bool = False) -> np.ndarray:
    """Return a scikit-image sample photo as float32 in [0, 1], (H, W) grey or (H, W, 3) RGB.

    >>> sample_image("camera").shape, sample_image("chelsea", grey=True).shape
    ((512, 512), (300, 451))
    """
    import skimage.color
    import skimage.data

    if name not in SAMPLE_IMAGES:
        raise ValueError(f"Unknown sample image {name!r}. Choose one of {list(SAMPLE_IMAGES)}.")
    image = getattr(skimage.data, name)().astype(np.float32) / 255.0
    if grey and image.ndim == 3:
        image = skimage.color.rgb2gray(image).astype(np.float32)
    return image


def get_kernel(kernel) -> np.ndarray:
    """Return ``kernel`` (a name in :data:`KERNELS` or a 2-D array of odd size) as float32.

    >>> get_kernel("sobel_x")
    array([[-1.,  0.,  1.],
           [-2.,  0.,  2.],
           [-1.,  0.,  1.]], dtype=float32)
    """
    if isinstance(kernel, str):
        if kernel not in KERNELS:
            raise ValueError(f"Unknown kernel {kernel!r}. Named kernels: {list(KERNELS)}; "
                             f"or pass your own 2-D array.")
        return KERNELS[kernel]
    array = np.asarray(kernel, dtype=np.float32)
    if array.ndim != 2:
        raise ValueError(
            f"A kernel must be 2-D (height, width), got shape {array.shape}. For a colour image "
            f"pass one 2-D kernel: it is applied to each channel separately."
        )
    if array.shape[0] % 2 == 0 or array.shape[1] % 2 == 0:
        raise ValueError(
            f"A kernel needs odd height and width so it has a centre pixel, got shape {array.shape}. "
            f"Pad it with a row or column of zeros."
        )
    return array


def apply_filter(image, kernel, *, padding: str = "same") -> np.ndarray:
    """Return the response of ``image`` to ``kernel`` (an (H, W) image gives (H, W), (H, W, C) gives (H, W, C)).

    ``padding`` is ``"same"`` (zeros around the border, as ``Conv2D(padding="same")``),
    ``"valid"`` (no padding: the output shrinks by the kernel size minus one) or
    ``"reflect"`` (mirror the border, which avoids the bright frame zeros give on photos).
    Colour channels are filtered one at a time with the same kernel.

    >>> image = np.zeros((5, 6), dtype="float32"); image[:, 3:] = 1.0   # one vertical edge
    >>> apply_filter(image, "sobel_x")[2]          # the last column sees the zero padding
    array([ 0.,  0.,  4.,  4.,  0., -4.], dtype=float32)
    >>> apply_filter(image, "sobel_x", padding="reflect")[2]
    array([0., 0., 4., 4., 0., 0.], dtype=float32)
    """
    from keras import ops

    kernel = get_kernel(kernel)
    array = np.asarray(image, dtype=np.float32)
    if array.ndim not in (2, 3):
        raise ValueError(
            f"Expected one image of shape (height, width) or (height, width, channels), got shape "
            f"{array.shape}. For a batch, call apply_filter once per image."
        )
    if padding not in ("same", "valid", "reflect"):
        raise ValueError(f"padding must be 'same', 'valid' or 'reflect', got {padding!r}.")
    grey = array.ndim == 2
    # Channels become the batch, so one single-channel kernel filters each channel alike.
    batch = array[None, :, :, None] if grey else np.moveaxis(array, -1, 0)[..., None]
    if padding == "reflect":
        rows, cols = kernel.shape[0] // 2, kernel.shape[1] // 2
        batch = np.pad(batch, [(0, 0), (rows, rows), (cols, cols), (0, 0)], mode="reflect")
    response = ops.conv(batch, kernel[:, :, None, None], padding="same" if padding == "same" else "valid",
                        data_format="channels_last")
    response = ops.convert_to_numpy(response)[..., 0]
    return response[0] if grey else np.moveaxis(response, 0, -1)


def _is_detector(kernel: np.ndarray) -> bool:
    """True when the weights sum to zero: flat regions give 0, the response is signed."""
    return abs(float(kernel.sum())) < 1e-6


def common_denominator(kernel, largest: int = 1024) -> int:
    """Return the smallest d such that d * kernel is all integers (1 if none up to ``largest``).

    >>> common_denominator(KERNELS["gaussian_blur"]), common_denominator(KERNELS["sobel_x"])
    (256, 1)
    """
    kernel = np.asarray(kernel, dtype=np.float64)
    for d in range(1, largest + 1):
        scaled = kernel * d
        if np.allclose(scaled, np.round(scaled), atol=1e-4):
            return d
    return 1


def draw_kernel(ax, kernel: np.ndarray, *, numbers: bool = True) -> str:
    """Draw ``kernel`` on a symmetric red-blue scale with its weights written in; return the scale note.

    Fractions are written as integers over a common denominator ("x 1/256"), which is how
    such kernels are usually defined and fits in the cells.
    """
    limit = float(np.abs(kernel).max()) or 1.0
    ax.imshow(kernel, cmap="RdBu_r", vmin=-limit, vmax=limit)
    ax.set_xticks([])
    ax.set_yticks([])
    if not numbers or max(kernel.shape) > 7:
        return ""
    denominator = common_denominator(kernel, 1024)
    size = 12 if max(kernel.shape) <= 3 else 9
    for (row, col), value in np.ndenumerate(kernel):
        scaled = value * denominator
        text = f"{scaled:.0f}" if abs(scaled - round(scaled)) < 1e-4 else f"{value:.2f}"
        colour = "white" if abs(value) > 0.6 * limit else "black"
        ax.text(col, row, text, ha="center", va="center", fontsize=size, color=colour)
    return f" x 1/{denominator}" if denominator > 1 else ""


def plot_filter_response(image, kernel, *, padding: str = "same", crop=None, title=None):
    """Return a figure of the image, the kernel with its numbers, and the filtered image.

    ``image`` is an array or a sample name (see :data:`SAMPLE_IMAGES`); ``kernel`` a name in
    :data:`KERNELS` or a 2-D array. Kernels whose weights sum to 0 (edge and line detectors)
    give signed responses, drawn red (positive) and blue (negative) around white zero.
    ``crop=(top, bottom, left, right)`` shows only that detail of image and response (the
    filter still runs on the whole image): blurs and sharpening are easier to see up close.
    """
    name = kernel if isinstance(kernel, str) else "custom kernel"
    kernel = get_kernel(kernel)
    if isinstance(image, str):
        image = sample_image(image)
    image = np.asarray(image, dtype=np.float32)
    response = apply_filter(image, kernel, padding=padding)
    top, bottom, left, right = crop if crop else (None, None, None, None)
    rows, cols = slice(top, bottom), slice(left, right)

    fig = new_figure(height=3.6)
    grid = fig.add_gridspec(1, 3, width_ratios=[4, 1.6, 4])
    ax_image, ax_kernel, ax_response = (fig.add_subplot(grid[0, i]) for i in range(3))

    shown = as_image(image)
    ax_image.imshow(np.clip(shown[rows, cols], 0, 1), cmap="gray" if shown.ndim == 2 else None, vmin=0, vmax=1)
    ax_image.set_title(f"input {image.shape[0]}x{image.shape[1]}" + (" (detail)" if crop else ""))
    scale = draw_kernel(ax_kernel, kernel)
    ax_kernel.set_title(f"{name}{scale}\n{kernel.shape[0]}x{kernel.shape[1]}, sum {kernel.sum():.3g}", fontsize=10)

    if _is_detector(kernel):
        signed = response.mean(axis=-1) if response.ndim == 3 else response
        # Most edges in a photo are far weaker than the strongest one; saturating the top 1 %
        # keeps them visible.
        limit = float(np.percentile(np.abs(signed), 99)) or float(np.abs(signed).max()) or 1.0
        shown = ax_response.imshow(signed[rows, cols], cmap="RdBu_r", vmin=-limit, vmax=limit)
        fig.colorbar(shown, ax=ax_response, shrink=0.8, label="response", extend="both")
        suffix = " (mean of RGB)" if response.ndim == 3 else ""
        ax_response.set_title(f"response{suffix}")
    else:
        clipped = np.clip(response, 0, 1)
        ax_response.imshow(clipped[rows, cols], cmap="gray" if clipped.ndim == 2 else None, vmin=0, vmax=1)
        ax_response.set_title("response (clipped to 0..1)")
    for ax in (ax_image, ax_response):
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title)
    return fig


def plot_filter_grid(images=("camera", "astronaut", "chelsea"), kernels=("vertical_line", "sobel_x", "sobel_y"),
                     *, padding: str = "reflect"):
    """Return a grid: the kernels with their weights on top, then one row per photo and its responses.

    ``images`` are sample names (see :data:`SAMPLE_IMAGES`) or arrays, or a dict
    ``{label: array}``; ``kernels`` names in :data:`KERNELS` or 2-D arrays. Each kernel runs
    on the grey photo through :func:`apply_filter` (``keras.ops.conv``); responses are signed, red positive and blue negative around white
    zero, each panel saturating at its 99th percentile of absolute response; kernels whose
    weights do not sum to 0 (blurs, sharpening) give grey images clipped to 0..1.
    """
    if isinstance(images, (str, np.ndarray)) or isinstance(kernels, (str, np.ndarray)):
        raise TypeError("images and kernels must be lists (or tuples), e.g. images=['camera'], "
                        "kernels=['sobel_x'].")
    if not images or not kernels:
        raise ValueError("Give at least one image and one kernel.")
    named = [(k, get_kernel(k)) if isinstance(k, str) else (f"kernel {i}", get_kernel(k))
             for i, k in enumerate(kernels)]
    if isinstance(images, dict):  # {label: array}
        photos = [(str(label), as_image(image)) for label, image in images.items()]
    else:
        photos = [(image, sample_image(image)) if isinstance(image, str) else (f"image {i}", as_image(image))
                  for i, image in enumerate(images)]
    ncols = 1 + len(named)
    fig = new_figure(height=1.3 + 2.0 * len(photos) * 5 / max(ncols, 5))
    grid = fig.add_gridspec(1 + len(photos), ncols, height_ratios=[0.55] + [1] * len(photos))
    corner = fig.add_subplot(grid[0, 0])
    corner.axis("off")
    corner.text(0.5, 0.5, "kernel\n(weights)", ha="center", va="center", fontsize=10)
    for col, (name, kernel) in enumerate(named, start=1):
        ax = fig.add_subplot(grid[0, col])
        # In narrow columns only 3x3 weights fit as numbers.
        scale = draw_kernel(ax, kernel, numbers=ncols <= 6 or max(kernel.shape) <= 3)
        ax.set_title(f"{name}\n{scale.strip()}" if scale else name, fontsize=9)
    for row, (name, photo) in enumerate(photos, start=1):
        grey = photo if photo.ndim == 2 else photo @ np.array([0.2125, 0.7154, 0.0721], dtype=np.float32)
        ax = fig.add_subplot(grid[row, 0])
        ax.imshow(np.clip(photo, 0, 1), cmap="gray" if photo.ndim == 2 else None, vmin=0, vmax=1)
        ax.set_ylabel(f"{name}\n{photo.shape[0]}x{photo.shape[1]}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        for col, (_, kernel) in enumerate(named, start=1):
            response = apply_filter(grey, kernel, padding=padding)
            ax = fig.add_subplot(grid[row, col])
            if _is_detector(kernel):
                limit = float(np.percentile(np.abs(response), 99)) or 1.0
                ax.imshow(response, cmap="RdBu_r", vmin=-limit, vmax=limit)
            else:  # blurs and sharpening keep the brightness: show them as grey images
                ax.imshow(np.clip(response, 0, 1), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle("Hand-made kernels on real photos (detectors: red positive, blue negative response)")
    return fig
