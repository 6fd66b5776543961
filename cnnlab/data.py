"""Data sets for the course, found offline where possible.

Every loader returns ``(x_train, y_train), (x_test, y_test)`` as ``keras.datasets`` does
(uint8 images, uint8 labels), so a lesson can swap one for the other.

Fashion-MNIST, the running data set, is looked for in this order:

1. the directory named by ``$CNNLAB_DATA`` (the four IDX files, or a ``fashion-mnist/``
   folder holding them);
2. ``/usr/share/datasets/fashion-mnist/`` (Debian's ``dataset-fashion-mnist`` package);
3. the Keras cache (``~/.keras/datasets/fashion-mnist/``);
4. a Keras download.

If all fail and the caller allows it (the ``smoke`` profile does), the class-balanced
sample of real Fashion-MNIST shipped inside cnnlab is used; otherwise the error names
every way to get the data. Files that are found but corrupt or truncated raise
:class:`CorruptDataError` rather than falling through to another source.
"""

from __future__ import annotations

import gzip
import os
import pickle
from importlib import resources
from pathlib import Path

import numpy as np

DATA_ENV = "CNNLAB_DATA"
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
SAMPLE_FILE = "fashion_mnist_sample.npz"

FASHION_MNIST_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}

CLASS_NAMES = {
    "fashion_mnist": [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ],
    "mnist": [str(d) for d in range(10)],
    "digits": [str(d) for d in range(10)],
    "cifar10": [
        "airplane", "automobile", "bird", "cat", "deer",
        "dog", "frog", "horse", "ship", "truck",
    ],
}

_HOW_TO_GET = """How to get it:
  - Debian/Ubuntu: sudo apt-get install dataset-fashion-mnist
  - any machine with a network: run keras.datasets.fashion_mnist.load_data() once
    (it caches the files in ~/.keras/datasets/fashion-mnist/)
  - offline: copy the four files train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz,
    t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz into a folder and set
    CNNLAB_DATA to it
  - for a quick run only: use the 'smoke' profile, which falls back to the small
    sample shipped with cnnlab"""


class DataNotFoundError(FileNotFoundError):
    """No source of a data set could be reached."""


class CorruptDataError(ValueError):
    """A data file was found but its contents are not what its format promises."""


def class_names(dataset: str) -> list[str]:
    """Return the class names of ``dataset`` ('fashion_mnist', 'mnist', 'digits', 'cifar10').

    >>> class_names("fashion_mnist")[9]
    'Ankle boot'
    """
    try:
        return list(CLASS_NAMES[dataset])
    except KeyError:
        raise ValueError(f"Unknown data set {dataset!r}; known: {sorted(CLASS_NAMES)}") from None


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Return the array stored in an IDX file (gzip-compressed or not), checking its header."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as err:
        raise CorruptDataError(f"{path}: cannot be read as {'gzip' if opener is gzip.open else 'IDX'} ({err}). "
                               "Delete it and get the file again.") from err
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise CorruptDataError(f"{path}: not an IDX file of unsigned bytes (bad magic number "
                               f"{raw[:4].hex() or 'empty file'}). Delete it and get the file again.")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise CorruptDataError(f"{path}: IDX header is truncated. Delete it and get the file again.")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(shape))
    if len(raw) != expected:
        raise CorruptDataError(f"{path}: header promises shape {shape} ({expected} bytes) but the file "
                               f"has {len(raw)} bytes; it is truncated or corrupt. Delete it and get "
                               "the file again.")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape).copy()


def _find_idx(folder: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


def load_idx_folder(folder: str | os.PathLike):
    """Return ``(x_train, y_train), (x_test, y_test)`` from the four (M)NIST-style IDX files in ``folder``."""
    folder = Path(folder)
    paths = {key: _find_idx(folder, stem) for key, stem in FASHION_MNIST_FILES.items()}
    missing = [FASHION_MNIST_FILES[k] for k, p in paths.items() if p is None]
    if missing:
        raise DataNotFoundError(f"{folder}: missing {', '.join(m + '[.gz]' for m in missing)}")
    arrays = {key: read_idx(p) for key, p in paths.items()}
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise CorruptDataError(f"{folder}: {split} images {x.shape} and labels {y.shape} do not "
                                   "match (expected (n, rows, cols) and (n,)).")
        if y.size and y.max() > 9:
            raise CorruptDataError(f"{folder}: {split} labels go up to {y.max()}, expected 0-9.")
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])


def keras_cache_dir() -> Path:
    """Return the folder where Keras caches downloaded data sets."""
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "datasets"


def fashion_mnist_folders() -> list[tuple[str, Path]]:
    """Return ``(description, folder)`` for each place searched for Fashion-MNIST, in order."""
    folders = []
    if os.environ.get(DATA_ENV):
        root = Path(os.environ[DATA_ENV]).expanduser()
        folders += [(f"${DATA_ENV}", root), (f"${DATA_ENV}/fashion-mnist", root / "fashion-mnist")]
    folders += [("Debian's dataset-fashion-mnist package", DEBIAN_DIR),
                ("the Keras cache", keras_cache_dir() / "fashion-mnist")]
    return folders


def load_sample():
    """Return the class-balanced sample of real Fashion-MNIST shipped with cnnlab."""
    with resources.files("cnnlab").joinpath("_data", SAMPLE_FILE).open("rb") as f:
        with np.load(f) as npz:
            return (npz["x_train"], npz["y_train"]), (npz["x_test"], npz["y_test"])


def load_fashion_mnist(*, allow_sample: bool = False, download: bool = True, verbose: bool = True):
    """Return Fashion-MNIST as ``(x_train, y_train), (x_test, y_test)``, uint8, 28x28."""
    tried = []
    for where, folder in fashion_mnist_folders():
        if not folder.is_dir():
            tried.append(f"{folder}: no such folder")
            continue
        try:
            data = load_idx_folder(folder)
        except DataNotFoundError as err:
            tried.append(str(err))
            continue
        _say(verbose, f"Fashion-MNIST from {where}", data)
        return data
    if download:
        try:
            import keras

            data = keras.datasets.fashion_mnist.load_data()
        except Exception as err:  # Keras raises bare Exception subclasses for network errors
            tried.append(f"Keras download: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}")
        else:
            _say(verbose, "Fashion-MNIST from Keras' download", data)
            return data
    if allow_sample:
        data = load_sample()
        _say(verbose, "Fashion-MNIST: no full copy found, using the sample shipped with cnnlab", data)
        return data
    raise DataNotFoundError("Fashion-MNIST was not found. Looked in:\n  - " + "\n  - ".join(tried)
                            + "\n" + _HOW_TO_GET)


def load_mnist(*, verbose: bool = True):
    """Return MNIST digits as ``(x_train, y_train), (x_test, y_test)``, uint8, 28x28."""
    return _load_online_data_set(
        "MNIST", "mnist", load_idx_folder, "mnist", verbose,
        how="put the four IDX files in $CNNLAB_DATA/mnist/")


def load_cifar10(*, verbose: bool = True):
    """Return CIFAR-10 as ``(x_train, y_train), (x_test, y_test)``, uint8, 32x32x3, labels (n, 1)."""
    return _load_online_data_set(
        "CIFAR-10", "cifar-10-batches-py", _load_cifar_folder, "cifar10", verbose,
        how="unpack cifar-10-python.tar.gz into $CNNLAB_DATA")


def _load_online_data_set(title, subfolder, read_folder, keras_name, verbose, *, how):
    """Return a data set from ``$CNNLAB_DATA/<subfolder>``, else from Keras' cache or download."""
    tried = []
    if os.environ.get(DATA_ENV):
        folder = Path(os.environ[DATA_ENV]).expanduser() / subfolder
        if folder.is_dir():
            data = read_folder(folder)
            _say(verbose, f"{title} from ${DATA_ENV}/{subfolder}", data)
            return data
        tried.append(f"{folder}: no such folder")
    try:
        import keras

        data = getattr(keras.datasets, keras_name).load_data()
    except Exception as err:  # Keras raises bare Exception subclasses for network errors
        tried.append(f"Keras cache and download: {type(err).__name__}: {err}")
        raise DataNotFoundError(
            f"{title} was not found. Looked in:\n  - " + "\n  - ".join(tried) + f"\nRun "
            f"keras.datasets.{keras_name}.load_data() on a machine with a network, or {how}. "
            "Offline, Fashion-MNIST (load_fashion_mnist) works the same way."
        ) from err
    _say(verbose, f"{title} from Keras", data)
    return data


def _load_cifar_folder(folder: Path):
    def batch(name):
        try:
            with open(folder / name, "rb") as f:
                d = pickle.load(f, encoding="bytes")
            x = np.asarray(d[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
            y = np.asarray(d[b"labels"], dtype=np.uint8).reshape(-1, 1)
        except FileNotFoundError as err:
            raise DataNotFoundError(f"{folder / name}: missing") from err
        except Exception as err:
            raise CorruptDataError(f"{folder / name}: not a CIFAR-10 batch ({err}).") from err
        return x, y

    parts = [batch(f"data_batch_{i}") for i in range(1, 6)]
    x_test, y_test = batch("test_batch")
    return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])), (x_test, y_test)


def load_digits(test_fraction: float = 0.2, seed: int = 0, *, verbose: bool = True):
    """Return scikit-learn's 8x8 digits as ``(x_train, y_train), (x_test, y_test)``, uint8 in 0-16.

    >>> (x, y), (xt, yt) = load_digits(verbose=False)
    >>> x.shape, xt.shape, int(x.max())
    ((1437, 8, 8), (360, 8, 8), 16)
    """
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be between 0 and 1, got {test_fraction}")
    from sklearn.datasets import load_digits as sk_digits
    from sklearn.model_selection import train_test_split

    bunch = sk_digits()
    x = bunch.images.astype(np.uint8)
    y = bunch.target.astype(np.uint8)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=test_fraction, random_state=seed, stratify=y)
    data = (x_train, y_train), (x_test, y_test)
    _say(verbose, "digits from scikit-learn", data)
    return data


def _say(verbose: bool, what: str, data) -> None:
    if verbose:
        (x_train, _), (x_test, _) = data
        print(f"{what}: {len(x_train):,} training and {len(x_test):,} test images of shape {x_train.shape[1:]}")
