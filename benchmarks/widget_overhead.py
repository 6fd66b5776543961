"""How much slower training is with the live panel than with plain ``fit``: prints the time ratio.

The same model (same initial weights) trains on Fashion-MNIST with ``model.fit`` and with
``cnnlab.widgets.train(..., block=True)`` (headless: the panel applies its controls and
records every batch but, with no one to see it, draws no figure; ``--draw`` draws it as a
panel shown in a notebook does). Runs alternate, after one warm-up epoch
each so tracing is not timed. The ratio of the best times (timeit's rule: the least disturbed
run) should be at most 1.05; the ratio of the medians is printed too. On a busy machine both
wander: read the load average the script prints.

    .venv/bin/python benchmarks/widget_overhead.py [--epochs 2] [--train-size 20000] [--repeats 3] [--draw]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import cnnlab

keras = cnnlab.runtime.import_keras_quietly()

from cnnlab.data import load_fashion_mnist  # noqa: E402
from cnnlab.layers import TunableDropout  # noqa: E402
from cnnlab.widgets import train  # noqa: E402


def small_cnn() -> keras.Model:
    """Return the compiled CNN both runs train: conv, pool, dense, tunable dropout."""
    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(16, 3, activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Flatten(),
        keras.layers.Dense(64, activation="relu"),
        TunableDropout(0.3, seed=0),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--train-size", type=int, default=20000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--draw", action="store_true",
                        help="draw the figure as a panel shown in a notebook does")
    args = parser.parse_args()

    cnnlab.setup("full", quiet=True)
    (x, y), _ = load_fashion_mnist(allow_sample=True, verbose=False)
    x = (x[:args.train_size, ..., None] / 255.0).astype("float32")
    y = y[:args.train_size]

    plain_model, panel_model = small_cnn(), small_cnn()
    panel_model.set_weights(plain_model.get_weights())
    plain_model.fit(x, y, batch_size=args.batch_size, epochs=1, verbose=0)  # warm-up: tracing
    panel = train(panel_model, (x, y), epochs=1, batch_size=args.batch_size, display=False,
                  block=True, draw=args.draw)

    plain_times, panel_times = [], []
    for _ in range(args.repeats):
        began = time.perf_counter()
        plain_model.fit(x, y, batch_size=args.batch_size, epochs=args.epochs, verbose=0)
        plain_times.append(time.perf_counter() - began)

        panel.view.epochs.value = args.epochs
        began = time.perf_counter()
        panel.start()
        panel.wait()
        panel_times.append(time.perf_counter() - began)

    steps = len(panel.record)
    print(f"backend {keras.backend.backend()} | {args.train_size} images x {args.epochs} epochs, "
          f"batch {args.batch_size}, {args.repeats} repeats | {steps} batches recorded | "
          f"figure {'drawn' if args.draw else 'not drawn (headless)'} | "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    for name, pick in [("best", min), ("median", statistics.median)]:
        plain, live = pick(plain_times), pick(panel_times)
        print(f"{name:>6}: plain fit {plain:.2f} s | with panel {live:.2f} s | "
              f"ratio panel / plain = {live / plain:.3f} (target <= 1.05)")


if __name__ == "__main__":
    main()
