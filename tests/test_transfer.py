"""cnnlab.transfer: path detection, the shipped base network and its reproducible pretraining."""

import numpy as np
import pytest

from cnnlab import data, transfer


def _sample_classes(classes, split):
    (x_train, y_train), (x_test, y_test) = data.load_sample()
    x, y = (x_train, y_train) if split == "train" else (x_test, y_test)
    return transfer.split_classes(x[..., None], y, classes)


def test_offline_variable_forces_the_offline_path(monkeypatch):
    monkeypatch.setenv(transfer.OFFLINE_ENV, "1")
    monkeypatch.setattr(transfer, "imagenet_reachable", lambda timeout: pytest.fail("must not try the network"))
    path = transfer.detect_path()
    assert not path.imagenet
    assert path.message.startswith("Path: OFFLINE")


def test_cached_weights_give_the_imagenet_path_without_network(monkeypatch, tmp_path):
    monkeypatch.delenv(transfer.OFFLINE_ENV, raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    (tmp_path / "models").mkdir()
    for name in transfer.IMAGENET_FILES:
        (tmp_path / "models" / name).write_bytes(b"x")
    monkeypatch.setattr(transfer, "imagenet_reachable", lambda timeout: pytest.fail("must not try the network"))
    path = transfer.detect_path()
    assert path.imagenet and path.message.startswith("Path: IMAGENET")


def test_unreachable_server_without_cache_gives_the_offline_path(monkeypatch, tmp_path):
    monkeypatch.delenv(transfer.OFFLINE_ENV, raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(transfer, "imagenet_reachable", lambda timeout: False)
    path = transfer.detect_path(timeout=0.5)
    assert not path.imagenet and "did not answer in 0.5 s" in path.message


def test_reachability_is_false_for_a_closed_port(monkeypatch):
    monkeypatch.setattr(transfer, "IMAGENET_HOST", ("127.0.0.1", 9))
    assert transfer.imagenet_reachable(timeout=0.5) is False


def test_plot_model_availability_names_what_is_missing(monkeypatch):
    monkeypatch.setattr(transfer.shutil, "which", lambda name: None)
    ok, why = transfer.plot_model_available()
    assert not ok and "dot" in why


def test_photos_are_square_rgb_uint8():
    photos = transfer.load_photos(64)
    assert list(photos) == ["astronaut", "chelsea", "coffee", "rocket"]
    assert all(p.shape == (64, 64, 3) and p.dtype == np.uint8 for p in photos.values())


def test_label_subset_is_balanced_seeded_and_within_range():
    y = np.repeat(np.arange(5), 100)
    first = transfer.label_subset(y, 0.1, seed=3)
    assert np.bincount(y[first]).tolist() == [10] * 5
    assert np.array_equal(first, transfer.label_subset(y, 0.1, seed=3))
    assert not np.array_equal(first, transfer.label_subset(y, 0.1, seed=4))
    assert transfer.label_subset(y, 1.0, seed=0).tolist() == list(range(500))


def test_shipped_file_is_small_and_records_its_training():
    path = transfer._weights_file()
    assert path.is_file() and path.stat().st_size < 500_000
    info = transfer.shipped_info()
    assert info["classes"] == "0,1,2,3,4" and 0.5 < info["test_accuracy"] <= 1


@pytest.mark.backends
def test_shipped_base_loads_with_the_expected_shapes():
    base = transfer.load_base()
    assert base.output.shape == (None, 7, 7, 96)
    assert base.trainable and base.count_params() == transfer.build_base().count_params()


@pytest.mark.backends
def test_shipped_weights_give_the_recorded_accuracy():
    model = transfer.load_pretrained()
    info = transfer.shipped_info()
    try:
        (_, _), (x, y) = data.load_fashion_mnist(download=False, verbose=False)
    except data.DataNotFoundError:
        x, y = _sample_classes(transfer.PRETRAIN_CLASSES, "test")
        tolerance = 0.06  # 500 sample test images: a few standard errors
    else:
        x, y = transfer.split_classes(x[..., None], y, transfer.PRETRAIN_CLASSES)
        tolerance = 0.002  # the same 5,000 images the script scored, up to float rounding
    accuracy = np.mean(model.predict(x, batch_size=500, verbose=0).argmax(axis=1) == y)
    assert abs(accuracy - info["test_accuracy"]) < tolerance


@pytest.mark.backends
def test_pretraining_is_reproducible_and_round_trips(tmp_path):
    x, y = _sample_classes(transfer.PRETRAIN_CLASSES, "train")
    x, y = x[:256], y[:256]
    first = transfer.pretrain(x, y, epochs=1, seed=5)
    second = transfer.pretrain(x, y, epochs=1, seed=5)
    for a, b in zip(first.get_weights(), second.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-5)
    transfer.save_weights(first, tmp_path / "base.npz", test_accuracy=0.5)
    loaded = transfer.load_pretrained(tmp_path / "base.npz")
    for a, b in zip(first.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert transfer.shipped_info(tmp_path / "base.npz") == {"test_accuracy": 0.5}


def test_missing_weights_file_says_how_to_regenerate(tmp_path):
    with pytest.raises(FileNotFoundError, match="scripts/pretrain_base.py"):
        transfer.load_base(tmp_path / "nothing.npz")
