"""Write cnnlab/_data/fashion_base.npz: the base network lesson 13 transfers when offline.

Usage: python scripts/pretrain_base.py [--out PATH] [--check]

Trains `cnnlab.transfer.build_pretrain_model` (the base and a 5-way softmax head) on the
Fashion-MNIST training images of classes 0-4 (T-shirt/top, trouser, pullover, dress, coat)
from a fixed seed, on the CPU with TensorFlow's deterministic ops, and stores its weights with
its test accuracy on classes 0-4. Rerunning it gives the same weights (to float rounding; the
.npz bytes differ only by the zip entries' timestamps). ``--check`` retrains and compares with
the stored file instead of writing it, and exits 1 if they differ.
"""

import argparse
import os
import sys
from pathlib import Path

os.environ["CUDA_VISIBLE_DEVICES"] = ""  # the same arithmetic on every machine
os.environ["KERAS_BACKEND"] = "tensorflow"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

import cnnlab  # noqa: E402
from cnnlab import transfer  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "cnnlab" / "_data" / transfer.WEIGHTS_FILE
SEED = 13
EPOCHS = 30
TOLERANCE = 1e-4  # largest weight difference --check accepts


def train():
    """Return the trained model and its test accuracy on classes 0-4."""
    cnnlab.setup("full", seed=SEED, quiet=True)
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()
    (x_train, y_train), (x_test, y_test) = cnnlab.data.load_fashion_mnist(download=False)
    x_train, y_train = transfer.split_classes(x_train[..., None], y_train, transfer.PRETRAIN_CLASSES)
    x_test, y_test = transfer.split_classes(x_test[..., None], y_test, transfer.PRETRAIN_CLASSES)
    model = transfer.pretrain(x_train, y_train, epochs=EPOCHS, seed=SEED)
    accuracy = float(np.mean(model.predict(x_test, batch_size=1000, verbose=0).argmax(axis=1) == y_test))
    return model, accuracy, len(x_train)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--check", action="store_true", help="compare with --out instead of writing it")
    args = parser.parse_args()
    model, accuracy, n = train()
    print(f"trained on {n:,} images of classes 0-4 for {EPOCHS} epochs (seed {SEED}); "
          f"test accuracy on classes 0-4: {accuracy:.4f}")
    if args.check:
        stored = transfer.load_pretrained(args.out)
        diff = max(float(np.max(np.abs(a - b))) for a, b in zip(model.get_weights(), stored.get_weights()))
        recorded = transfer.shipped_info(args.out)["test_accuracy"]
        print(f"largest weight difference from {args.out.name}: {diff:.2e} (tolerance {TOLERANCE:g}); "
              f"recorded accuracy {recorded:.4f}")
        return 0 if diff <= TOLERANCE else 1
    transfer.save_weights(model, args.out, test_accuracy=accuracy, epochs=EPOCHS, seed=SEED,
                          train_images=n, classes="0,1,2,3,4")
    print(f"wrote {args.out} ({args.out.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
