"""Tests for cnnlab.augmentation: augmented copies, their grid, class folders on disk."""

import keras
import numpy as np
import pytest
from PIL import Image

from cnnlab.augmentation import augmented_copies, folder_name, plot_augmented, plot_runs, write_class_folders


def test_copies_differ_in_training_and_keep_the_shape():
    keras.utils.set_random_seed(0)
    image = np.arange(64, dtype=np.float32).reshape(8, 8, 1)
    augment = keras.Sequential([keras.layers.RandomTranslation(0.25, 0.25, fill_mode="constant")])
    copies = augmented_copies(augment, image, 6)
    assert copies.shape == (6, 8, 8, 1)
    assert len({c.tobytes() for c in copies}) > 1


def test_copies_of_an_identity_are_the_image():
    image = np.random.default_rng(0).uniform(0, 255, (5, 7, 3)).astype(np.float32)
    copies = augmented_copies(lambda batch, training: batch, image, 3)
    np.testing.assert_array_equal(copies, np.repeat(image[None], 3, axis=0))


def test_copies_refuse_a_batch_or_no_count():
    with pytest.raises(ValueError, match="channel axis"):
        augmented_copies(lambda b, training: b, np.zeros((8, 8)), 2)
    with pytest.raises(ValueError, match="at least 1"):
        augmented_copies(lambda b, training: b, np.zeros((8, 8, 1)), 0)


def test_grid_uses_one_fixed_scale_and_titles():
    images = np.stack([np.full((4, 4, 1), 50.0), np.full((4, 4, 1), 200.0)])
    fig = plot_augmented(images, ["dark", "light"])
    assert [ax.get_title() for ax in fig.axes] == ["dark", "light"]
    assert all(ax.images[0].get_clim() == (0, 255) for ax in fig.axes)
    rgb = plot_augmented(np.full((3, 4, 4, 3), 0.5), value_range=(0, 1), ncols=2)
    assert len(rgb.axes) == 3
    with pytest.raises(ValueError, match="one title per image"):
        plot_augmented(images, ["one"])


def test_folder_names_are_safe():
    assert folder_name("T-shirt/top") == "T-shirt_top"
    assert folder_name("Ankle boot") == "Ankle_boot"


def test_class_folders_hold_the_images(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, (5, 6, 6, 1), dtype=np.uint8)
    y = np.array([0, 2, 2, 1, 0])
    counts = write_class_folders(x, y, ["T-shirt/top", "b", "c"], tmp_path)
    assert counts == {"T-shirt_top": 2, "b": 1, "c": 2}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["T-shirt_top", "b", "c"]
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "c" / "00001.png")), x[1, ..., 0])


def test_class_folders_refuse_bad_labels(tmp_path):
    with pytest.raises(ValueError, match="index class_names"):
        write_class_folders(np.zeros((2, 4, 4)), [0, 3], ["a", "b"], tmp_path)
    with pytest.raises(ValueError, match="same folder name"):
        write_class_folders(np.zeros((2, 4, 4)), [0, 1], ["a/b", "a b"], tmp_path)


def test_runs_are_drawn_one_bar_per_run_grouped_by_seed():
    import pandas as pd

    runs = pd.DataFrame({"seed": [0, 0, 1, 1], "augmentation": ["no", "yes", "no", "yes"],
                         "gap": [0.2, 0.05, 0.25, 0.1]})
    ax = plot_runs(runs).axes[0]
    assert [round(p.get_height(), 2) for p in ax.patches] == [0.2, 0.25, 0.05, 0.1]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["seed 0", "seed 1"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["augmentation: no", "augmentation: yes"]
