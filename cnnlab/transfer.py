"""Transfer learning: which path a runtime can take, and the base network cnnlab ships.

Lesson 13 teaches transfer learning two ways. Where ImageNet weights can be had (Colab, a
laptop with a network, a cached copy), it uses ``keras.applications``. Where nothing can be
downloaded (CI, a classroom without network), it reuses a small CNN pretrained on
Fashion-MNIST classes 0-4, whose weights ship in ``cnnlab/_data/fashion_base.npz`` and are
written by ``scripts/pretrain_base.py``::

    path = cnnlab.transfer.detect_path()   # ImageNet weights reachable? a GPU?
    print(path.message)
    base = cnnlab.transfer.load_base()     # the shipped base, classes 0-4 pretrained
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import shutil
import socket
import threading
from importlib import resources
from pathlib import Path

import numpy as np

__all__ = [
    "PRETRAIN_CLASSES", "TRANSFER_CLASSES", "TransferPath", "build_base", "build_pretrain_model",
    "detect_path", "imagenet_cached", "imagenet_reachable", "label_subset", "load_base",
    "load_photos", "load_pretrained", "plot_model_available", "pretrain", "save_weights",
    "shipped_info", "split_classes",
]

PRETRAIN_CLASSES = (0, 1, 2, 3, 4)  # T-shirt/top, Trouser, Pullover, Dress, Coat
TRANSFER_CLASSES = (5, 6, 7, 8, 9)  # Sandal, Shirt, Sneaker, Bag, Ankle boot
WEIGHTS_FILE = "fashion_base.npz"
OFFLINE_ENV = "CNNLAB_OFFLINE"
IMAGENET_FILES = ("mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5", "imagenet_class_index.json")
IMAGENET_HOST = ("storage.googleapis.com", 443)  # where keras.applications downloads from


@dataclasses.dataclass(frozen=True)
class TransferPath:
    """Which transfer-learning path this runtime takes, and why."""

    imagenet: bool
    accelerator: str
    reason: str

    @property
    def gpu(self) -> bool:
        """True when Keras' backend sees a GPU or TPU."""
        return self.accelerator != "CPU"

    @property
    def message(self) -> str:
        """Return the one line a lesson prints first.

        >>> TransferPath(False, "CPU", "no network").message
        'Path: OFFLINE (no ImageNet weights: no network), on CPU: the lesson reuses the base network cnnlab ships.'
        """
        if self.imagenet:
            return (f"Path: IMAGENET ({self.reason}), on {self.accelerator}: the lesson uses "
                    f"MobileNetV2 with ImageNet weights, then the base network cnnlab ships.")
        return (f"Path: OFFLINE (no ImageNet weights: {self.reason}), on {self.accelerator}: "
                f"the lesson reuses the base network cnnlab ships.")


def keras_models_dir() -> Path:
    """Return the folder where keras.applications caches downloaded weights."""
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "models"


def imagenet_cached() -> bool:
    """Return True when MobileNetV2's ImageNet weights and class index are in the Keras cache."""
    return all((keras_models_dir() / name).is_file() for name in IMAGENET_FILES)


def imagenet_reachable(timeout: float = 2.0) -> bool:
    """Return True when the server Keras downloads weights from answers within ``timeout`` s."""
    answer = []

    def connect():
        try:
            socket.create_connection(IMAGENET_HOST, timeout=timeout).close()
            answer.append(True)
        except OSError:
            pass

    # getaddrinfo ignores the socket timeout, so a hung DNS lookup is cut off by the thread join.
    worker = threading.Thread(target=connect, daemon=True)
    worker.start()
    worker.join(timeout)
    return bool(answer)


def detect_path(*, offline: bool | None = None, timeout: float = 2.0) -> TransferPath:
    """Return the path this runtime takes: ImageNet weights (cached or downloadable) or offline.

    ``offline=True`` (or ``$CNNLAB_OFFLINE=1``) forces the offline path without trying the
    network.
    """
    from cnnlab.runtime import accelerator

    device = accelerator()
    if offline is None:
        offline = os.environ.get(OFFLINE_ENV, "").strip().lower() in ("1", "true", "yes")
    if offline:
        return TransferPath(False, device, f"${OFFLINE_ENV} is set")
    if imagenet_cached():
        return TransferPath(True, device, f"weights cached in {keras_models_dir()}")
    if imagenet_reachable(timeout):
        return TransferPath(True, device, f"downloadable from {IMAGENET_HOST[0]}")
    return TransferPath(False, device, f"not cached and {IMAGENET_HOST[0]} did not answer in {timeout:g} s")


def plot_model_available() -> tuple[bool, str]:
    """Return whether ``keras.utils.plot_model`` can draw here, and what is missing if not."""
    missing = [what for what, ok in (("the Python package pydot", importlib.util.find_spec("pydot")),
                                     ("Graphviz's `dot` program", shutil.which("dot"))) if not ok]
    if missing:
        return False, " and ".join(missing) + " not installed"
    return True, "pydot and Graphviz found"


def load_photos(size: int = 224) -> dict[str, np.ndarray]:
    """Return scikit-image's sample photos, centre-cropped square and resized to ``size``, uint8 RGB."""
    from skimage import data, transform

    photos = {}
    for name in ("astronaut", "chelsea", "coffee", "rocket"):
        image = getattr(data, name)()
        h, w = image.shape[:2]
        side = min(h, w)
        top, left = (h - side) // 2, (w - side) // 2
        square = image[top:top + side, left:left + side]
        photos[name] = (transform.resize(square, (size, size), anti_aliasing=True) * 255).round().astype("uint8")
    return photos


def split_classes(x, y, classes):
    """Return the examples of ``classes`` only, labels renumbered 0..len(classes)-1.

    >>> x, y = split_classes(np.arange(6), np.array([5, 0, 7, 5, 9, 1]), (5, 7, 9))
    >>> x.tolist(), y.tolist()
    ([0, 2, 3, 4], [0, 1, 0, 2])
    """
    classes = list(classes)
    keep = np.isin(y, classes)
    lookup = np.full(int(max(classes)) + 1, -1)
    lookup[classes] = np.arange(len(classes))
    return x[keep], lookup[y[keep]].astype(y.dtype)


def label_subset(y, fraction: float, seed: int, num_classes: int | None = None) -> np.ndarray:
    """Return sorted indices of a class-balanced ``fraction`` of the labels (at least one per class).

    >>> label_subset(np.array([0, 0, 0, 0, 1, 1, 1, 1]), 0.5, seed=0).size
    4
    """
    rng = np.random.default_rng(seed)
    num_classes = num_classes or int(y.max()) + 1
    picked = []
    for k in range(num_classes):
        members = np.flatnonzero(y == k)
        n = max(1, round(fraction * members.size))
        picked.append(rng.choice(members, size=min(n, members.size), replace=False))
    return np.sort(np.concatenate(picked))


def build_base(filters: int = 24):
    """Return the untrained base: a three-stage CNN from 28x28x1 images to 7x7 feature maps."""
    import keras

    conv = dict(kernel_size=3, padding="same", activation="relu")
    return keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        keras.layers.Rescaling(1 / 255, name="rescale"),
        keras.layers.Conv2D(filters, name="conv1", **conv),
        keras.layers.MaxPooling2D(2, name="pool1"),
        keras.layers.Conv2D(2 * filters, name="conv2", **conv),
        keras.layers.MaxPooling2D(2, name="pool2"),
        keras.layers.Conv2D(4 * filters, name="conv3", **conv),
    ], name="fashion_base")


def build_pretrain_model(base=None, num_classes: int = len(PRETRAIN_CLASSES)):
    """Return ``base`` (a new one if None) with a global-average-pooling and softmax head."""
    import keras

    base = build_base() if base is None else base
    return keras.Sequential([
        base,
        keras.layers.GlobalAveragePooling2D(name="gap"),
        keras.layers.Dense(num_classes, activation="softmax", name="classes"),
    ], name="fashion_pretrain")


def pretrain(x, y, *, epochs: int, seed: int, batch_size: int = 128):
    """Return the model of `build_pretrain_model` trained on ``(x, y)`` from ``seed``."""
    import keras

    keras.utils.set_random_seed(seed)
    model = build_pretrain_model()
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x, y, epochs=epochs, batch_size=batch_size, shuffle=True, verbose=0)
    return model


def save_weights(model, path, **info) -> None:
    """Write a `build_pretrain_model` model's weights and ``info`` (plain values) to an .npz file."""
    arrays = {f"w{i}": np.asarray(w, dtype="float32") for i, w in enumerate(model.get_weights())}
    meta = {f"info_{key}": np.asarray(value) for key, value in info.items()}
    with open(path, "wb") as f:
        np.savez_compressed(f, **arrays, **meta)


def _weights_file():
    return resources.files("cnnlab").joinpath("_data", WEIGHTS_FILE)


def _read(path=None):
    source = _weights_file() if path is None else Path(path)
    if not source.is_file():
        raise FileNotFoundError(
            f"The pretrained base {source} is missing. Regenerate it with "
            f"`python scripts/pretrain_base.py`, or reinstall cnnlab.")
    with source.open("rb") as f, np.load(f) as npz:
        weights = [npz[f"w{i}"] for i in range(sum(k.startswith("w") for k in npz.files))]
        info = {k[len("info_"):]: npz[k].item() for k in npz.files if k.startswith("info_")}
    return weights, info


def shipped_info(path=None) -> dict:
    """Return what ``scripts/pretrain_base.py`` recorded with the weights (accuracy, epochs, seed...)."""
    return _read(path)[1]


def load_pretrained(path=None):
    """Return the pretrained model (base and its classes 0-4 head) with the shipped weights."""
    weights, _ = _read(path)
    model = build_pretrain_model()
    model.set_weights(weights)
    return model


def load_base(path=None):
    """Return the shipped base network (pretrained on classes 0-4), all its layers trainable."""
    return load_pretrained(path).get_layer("fashion_base")
