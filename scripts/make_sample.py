"""Write cnnlab/_data/fashion_mnist_sample.npz: a class-balanced sample of real Fashion-MNIST.

Usage: python scripts/make_sample.py [IDX_FOLDER]
IDX_FOLDER defaults to /usr/share/datasets/fashion-mnist (Debian's dataset-fashion-mnist).
The sample keeps the original indices, so tests can check it against the real files.
"""

import sys
from pathlib import Path

import numpy as np

from cnnlab.data import DEBIAN_DIR, SAMPLE_FILE, load_idx_folder

TRAIN_PER_CLASS = 300
TEST_PER_CLASS = 100
SEED = 2024


def balanced_indices(labels: np.ndarray, per_class: int, rng: np.random.Generator) -> np.ndarray:
    """Return ``per_class`` indices of each label, shuffled together."""
    picks = [rng.choice(np.flatnonzero(labels == c), per_class, replace=False) for c in range(10)]
    return rng.permutation(np.concatenate(picks))


def main(folder: Path) -> None:
    (x_train, y_train), (x_test, y_test) = load_idx_folder(folder)
    rng = np.random.default_rng(SEED)
    train_index = balanced_indices(y_train, TRAIN_PER_CLASS, rng)
    test_index = balanced_indices(y_test, TEST_PER_CLASS, rng)
    out = Path(__file__).resolve().parent.parent / "cnnlab" / "_data" / SAMPLE_FILE
    tmp = out.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, x_train=x_train[train_index], y_train=y_train[train_index],
                        x_test=x_test[test_index], y_test=y_test[test_index],
                        train_index=train_index, test_index=test_index)
    tmp.replace(out)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB): "
          f"{len(train_index)} training and {len(test_index)} test images")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else DEBIAN_DIR)
