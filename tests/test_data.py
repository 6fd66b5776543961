"""cnnlab.data: sources in order, the shipped sample, and clear errors for bad files."""

import gzip
from pathlib import Path

import numpy as np
import pytest

from cnnlab import data
from conftest import require

REAL = data.DEBIAN_DIR


@pytest.fixture
def real_fashion_mnist():
    """Debian's Fashion-MNIST: skipped where it is missing, a failure under CI=true."""
    require((REAL / "train-labels-idx1-ubyte.gz").exists(),
            f"Debian's Fashion-MNIST is not in {REAL}: apt-get install dataset-fashion-mnist")
    return REAL


def write_idx(path, array, compress=True):
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    raw = header + array.astype(np.uint8).tobytes()
    if compress:
        with gzip.open(path, "wb") as f:
            f.write(raw)
    else:
        path.write_bytes(raw)


def make_folder(folder, n_train=12, n_test=5, compress=True):
    rng = np.random.default_rng(0)
    arrays = {"x_train": rng.integers(0, 256, (n_train, 28, 28)), "y_train": rng.integers(0, 10, n_train),
              "x_test": rng.integers(0, 256, (n_test, 28, 28)), "y_test": rng.integers(0, 10, n_test)}
    folder.mkdir(parents=True, exist_ok=True)
    for key, stem in data.FASHION_MNIST_FILES.items():
        write_idx(folder / (stem + (".gz" if compress else "")), arrays[key], compress)
    return arrays


@pytest.fixture
def no_sources(monkeypatch, tmp_path):
    """Point every source at empty places and make the download fail as it does offline."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    monkeypatch.setattr(data, "DEBIAN_DIR", tmp_path / "no-debian")
    monkeypatch.delenv(data.DATA_ENV, raising=False)
    return tmp_path


def test_cnnlab_data_comes_first(no_sources, monkeypatch):
    arrays = make_folder(no_sources / "mine" / "fashion-mnist", compress=False)
    monkeypatch.setenv(data.DATA_ENV, str(no_sources / "mine"))
    (x, y), (xt, yt) = data.load_fashion_mnist(download=False, verbose=False)
    assert x.shape == (12, 28, 28) and x.dtype == np.uint8 and yt.shape == (5,)
    np.testing.assert_array_equal(x, arrays["x_train"])
    np.testing.assert_array_equal(yt, arrays["y_test"])


def test_keras_cache_is_used_when_nothing_else(no_sources):
    make_folder(no_sources / "keras-home" / "datasets" / "fashion-mnist")
    (x, _), _ = data.load_fashion_mnist(download=False, verbose=False)
    assert len(x) == 12


def test_debian_package_is_real_fashion_mnist(real_fashion_mnist, monkeypatch):
    monkeypatch.delenv(data.DATA_ENV, raising=False)
    (x, y), (xt, yt) = data.load_fashion_mnist(download=False, verbose=False)
    assert x.shape == (60000, 28, 28) and xt.shape == (10000, 28, 28)
    assert np.bincount(y).tolist() == [6000] * 10 and np.bincount(yt).tolist() == [1000] * 10
    assert y[:5].tolist() == [9, 0, 0, 3, 0]  # the first labels of the published training set


def test_sample_is_small_balanced_and_real():
    (x, y), (xt, yt) = data.load_sample()
    assert x.shape == (3000, 28, 28) and xt.shape == (1000, 28, 28) and x.dtype == np.uint8
    assert np.bincount(y).tolist() == [300] * 10 and np.bincount(yt).tolist() == [100] * 10
    import cnnlab

    sample = Path(cnnlab.__file__).parent / "_data" / data.SAMPLE_FILE
    assert sample.stat().st_size < 3_000_000, "the shipped sample must stay a few MB at most"


def test_sample_images_are_the_real_ones(real_fashion_mnist):
    (x, y), (xt, yt) = data.load_idx_folder(real_fashion_mnist)
    with data.resources.files("cnnlab").joinpath("_data", data.SAMPLE_FILE).open("rb") as f:
        npz = np.load(f)
        np.testing.assert_array_equal(npz["x_train"], x[npz["train_index"]])
        np.testing.assert_array_equal(npz["y_test"], yt[npz["test_index"]])


def test_offline_error_names_every_way(no_sources, monkeypatch):
    def offline():
        raise ConnectionError("no network")

    import keras
    monkeypatch.setattr(keras.datasets.fashion_mnist, "load_data", offline)
    with pytest.raises(data.DataNotFoundError) as err:
        data.load_fashion_mnist(verbose=False)
    message = str(err.value)
    for hint in ("no-debian", "keras-home", "Keras download", "apt-get install dataset-fashion-mnist",
                 "CNNLAB_DATA", "smoke"):
        assert hint in message


def test_sample_fallback_when_allowed(no_sources, capsys):
    (x, _), _ = data.load_fashion_mnist(allow_sample=True, download=False)
    assert len(x) == 3000
    assert "sample shipped with cnnlab" in capsys.readouterr().out


def test_truncated_file_is_a_clear_error(no_sources, monkeypatch):
    folder = no_sources / "bad"
    make_folder(folder, compress=False)
    path = folder / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    monkeypatch.setenv(data.DATA_ENV, str(folder))
    with pytest.raises(data.CorruptDataError, match="truncated or corrupt.*get the file again"):
        data.load_fashion_mnist(allow_sample=True, download=False, verbose=False)


@pytest.mark.parametrize("content, match", [
    (b"", "empty file"), (b"\x00\x00\x0d\x03" + b"\x00" * 12, "bad magic"),
    (b"\x00\x00\x08\x03\x00\x00", "header is truncated"), (b"not gzip at all", "cannot be read as gzip")])
def test_corrupt_headers(tmp_path, content, match):
    path = tmp_path / ("f.gz" if match.startswith("cannot") else "f")
    path.write_bytes(content)
    with pytest.raises(data.CorruptDataError, match=match):
        data.read_idx(path)


def test_mismatched_images_and_labels(no_sources):
    folder = no_sources / "mismatch"
    make_folder(folder)
    write_idx(folder / "train-labels-idx1-ubyte.gz", np.zeros(7))
    with pytest.raises(data.CorruptDataError, match="do not match"):
        data.load_idx_folder(folder)


def test_digits_split_is_stratified_and_keras_shaped():
    (x, y), (xt, yt) = data.load_digits(verbose=False)
    assert x.dtype == np.uint8 and x.shape[1:] == (8, 8) and len(x) + len(xt) == 1797
    assert np.bincount(yt).min() >= 35
    with pytest.raises(ValueError, match="test_fraction"):
        data.load_digits(test_fraction=1.5)


def test_class_names():
    assert data.class_names("fashion_mnist")[0] == "T-shirt/top" and len(data.class_names("cifar10")) == 10
    with pytest.raises(ValueError, match="known"):
        data.class_names("imagenet")


def test_offline_mnist_and_cifar_errors_point_to_fashion_mnist(no_sources, monkeypatch):
    import keras

    def offline():
        raise ConnectionError("no network")

    monkeypatch.setattr(keras.datasets.mnist, "load_data", offline)
    monkeypatch.setattr(keras.datasets.cifar10, "load_data", offline)
    for loader in (data.load_mnist, data.load_cifar10):
        with pytest.raises(data.DataNotFoundError, match="load_fashion_mnist"):
            loader(verbose=False)


def test_mnist_from_cnnlab_data_folder(no_sources, monkeypatch):
    arrays = make_folder(no_sources / "mine" / "mnist")
    monkeypatch.setenv(data.DATA_ENV, str(no_sources / "mine"))
    (x, y), _ = data.load_mnist(verbose=False)
    np.testing.assert_array_equal(y, arrays["y_train"])


def test_a_missing_real_component_fails_under_ci_and_skips_elsewhere(monkeypatch):
    import conftest

    monkeypatch.setattr(conftest, "ON_CI", True)
    with pytest.raises(pytest.fail.Exception, match=r"no such data.*CI=true"):
        require(False, "no such data")
    monkeypatch.setattr(conftest, "ON_CI", False)
    with pytest.raises(pytest.skip.Exception, match="no such data"):
        require(False, "no such data")
    require(True, "present: nothing happens")
