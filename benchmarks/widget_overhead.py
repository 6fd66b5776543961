"""How much slower training is with the live panel than with plain ``fit``: prints the time ratio.

The same model (same initial weights) trains on Fashion-MNIST with ``model.fit`` and with
the panel as a notebook runs it: training in the background thread, the figure and progress
line redrawn by the drawing thread every ``redraw_every`` s (``--headless``: as papermill
runs it, in the caller and drawing nothing). Runs alternate, after one warm-up epoch each so
tracing is not timed. The ratio of the best times (timeit's rule: the least disturbed run)
should be at most 1.05; the ratio of the medians is printed too. It also prints how often the
plot was redrawn while training (the interval between two redraws, each showing the newest
loss) and what a redraw cost. On a busy machine all of these wander: read the load average.

    .venv/bin/python benchmarks/widget_overhead.py [--epochs 2] [--train-size 20000] [--repeats 5] [--headless]
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
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--headless", action="store_true",
                        help="run the panel as papermill does: in the caller, drawing nothing")
    args = parser.parse_args()

    cnnlab.setup("full", quiet=True)
    (x, y), _ = load_fashion_mnist(allow_sample=True, verbose=False)
    x = (x[:args.train_size, ..., None] / 255.0).astype("float32")
    y = y[:args.train_size]

    plain_model, panel_model = small_cnn(), small_cnn()
    panel_model.set_weights(plain_model.get_weights())
    plain_model.fit(x, y, batch_size=args.batch_size, epochs=1, verbose=0)  # warm-up: tracing
    mode = "block" if args.headless else "thread"
    panel = train(panel_model, (x, y), epochs=1, batch_size=args.batch_size, display=False,
                  block=True, draw=not args.headless, mode=mode)
    redraws: list[float] = []
    panel.view.plot.observe(lambda _: redraws.append(time.perf_counter()), "value")

    plain_times, panel_times, gaps = [], [], []
    for _ in range(args.repeats):
        began = time.perf_counter()
        plain_model.fit(x, y, batch_size=args.batch_size, epochs=args.epochs, verbose=0)
        plain_times.append(time.perf_counter() - began)

        panel.view.epochs.value = args.epochs
        redraws.clear()
        drawn, busy = panel.redrawer.count, panel.redrawer.busy
        began = time.perf_counter()
        panel.start()
        panel.wait()
        ended = time.perf_counter()
        panel_times.append(ended - began)
        during = [t for t in redraws if t < ended]  # not the final drawing after the end
        gaps += [b - a for a, b in zip([began] + during, during)]
        cost = (panel.redrawer.busy - busy) / max(panel.redrawer.count - drawn, 1)

    steps = len(panel.record)
    print(f"backend {keras.backend.backend()} | {args.train_size} images x {args.epochs} epochs, "
          f"batch {args.batch_size}, {args.repeats} repeats | {steps} batches recorded | "
          f"{'headless: figure not drawn' if args.headless else 'figure drawn every %.1f s' % panel.redrawer.interval} | "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    for name, pick in [("best", min), ("median", statistics.median)]:
        plain, live = pick(plain_times), pick(panel_times)
        print(f"{name:>6}: plain fit {plain:.2f} s | with panel {live:.2f} s | "
              f"ratio panel / plain = {live / plain:.3f} (target <= 1.05)")
    if gaps:
        print(f"redraws while training: {len(gaps)}, interval between them median "
              f"{statistics.median(gaps):.2f} s, max {max(gaps):.2f} s (the first includes tracing); "
              f"a redraw (figure, progress line, log) costs {cost * 1000:.1f} ms")


if __name__ == "__main__":
    main()
