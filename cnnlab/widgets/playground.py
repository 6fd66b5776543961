"""A TensorFlow-Playground-like widget for lessons 01 and 03: a small MLP learns a 2-D task.

::

    pg = cnnlab.widgets.playground(task="xor", hidden=(4,), activation="tanh")

Pick a task (XOR, circles, two spirals, Gaussian blobs), the hidden-layer sizes, the
activation, the learning rate and L2 regularization, press Train and watch the decision
boundary move. A new task, architecture, activation or L2 starts a fresh network; a new
learning rate applies to the running one. Headless (CI): ``playground(..., autostart=True)``
then ``pg.wait()``. Training runs like the training panel's (a thread, or the cell on Colab;
see :mod:`cnnlab.widgets.runner`), a few epochs per ``fit`` with a redraw in between.
"""

from __future__ import annotations

import math
import time

import ipywidgets as w

from cnnlab.widgets.live import current_learning_rate
from cnnlab.widgets.panel import show_widget
from cnnlab.widgets.panel_view import figure_png
from cnnlab.widgets.playground_tasks import (ACTIVATIONS, TASKS, build_mlp, decision_surface,
                                             draw_playground, make_task, parse_hidden)
from cnnlab.widgets.runner import TrainingRun, UIPump, pick_mode


def playground(task: str = "xor", *, hidden=(4,), activation: str = "tanh", lr: float = 0.03,
               l2: float = 0.0, noise: float = 0.1, epochs: int = 300, batch_size: int = 10,
               autostart: bool = False, display: bool = True, mode: str = "auto") -> "Playground":
    """Return a :class:`Playground` (shown in the notebook), training at once if ``autostart``."""
    pg = Playground(task, hidden=hidden, activation=activation, lr=lr, l2=l2, noise=noise,
                    epochs=epochs, batch_size=batch_size, mode=mode)
    if display:
        show_widget(pg.widget)
    if autostart:
        pg.start()
    return pg


class Playground:
    """The playground's data, network, controls and training loop; see the module docstring."""

    EPOCHS_PER_FIT = 5

    def __init__(self, task="xor", *, hidden=(4,), activation="tanh", lr=0.03, l2=0.0, noise=0.1,
                 epochs=300, batch_size=10, mode="auto"):
        self.mode = pick_mode(mode)
        self._pump = UIPump() if self.mode == "cell" else None
        self.batch_size = batch_size
        style = {"description_width": "90px"}
        self.controls = {
            "task": w.Dropdown(options=TASKS, value=task, description="task", style=style),
            "noise": w.FloatSlider(value=noise, min=0.0, max=0.5, step=0.05, description="noise",
                                   continuous_update=False, style=style),
            "hidden": w.Text(value=", ".join(str(h) for h in hidden), description="hidden sizes",
                             continuous_update=False, style=style),
            "activation": w.Dropdown(options=ACTIVATIONS, value=activation, description="activation",
                                     style=style),
            "lr": w.FloatLogSlider(value=lr, base=10, min=-4, max=1, step=0.1, description="learning rate",
                                   continuous_update=False, style=style),
            "l2": w.FloatLogSlider(value=max(l2, 1e-6), base=10, min=-6, max=-1, step=0.5,
                                   description="L2", continuous_update=False, style=style),
            "use_l2": w.Checkbox(value=l2 > 0, description="regularize", indent=False),
            "epochs": w.IntText(value=epochs, description="epochs", style=style),
        }
        self.buttons = {name: w.Button(description=name) for name in ("Train", "Stop", "Reset")}
        self.status = w.HTML("")
        self.plot = w.Image(format="png", layout=w.Layout(width="640px"))
        c = self.controls
        self.widget = w.VBox([w.HBox([c["task"], c["noise"]]), w.HBox([c["hidden"], c["activation"]]),
                              w.HBox([c["lr"], c["l2"], c["use_l2"]]), w.HBox([c["epochs"]]),
                              w.HBox(list(self.buttons.values()) + [self.status]), self.plot])
        for name in ("task", "noise", "hidden", "activation", "l2", "use_l2"):
            c[name].observe(lambda _: self._request_reset(), "value")
        self.buttons["Train"].on_click(lambda _: self._safely(self.start))
        self.buttons["Stop"].on_click(lambda _: self.stop())
        self.buttons["Reset"].on_click(lambda _: self._safely(self._request_reset))
        self._run: TrainingRun | None = None
        self._stop = False
        self._reset_wanted = False
        self._last_draw = 0.0
        self._fig = None
        self.reset()

    # --- public -----------------------------------------------------------------------------
    def reset(self) -> None:
        """Make new data and a fresh network from the controls, and draw them."""
        c = self.controls
        self.x, self.y = make_task(c["task"].value, noise=c["noise"].value)
        l2 = c["l2"].value if c["use_l2"].value else 0.0
        self.model = build_mlp(parse_hidden(c["hidden"].value), c["activation"].value,
                               c["lr"].value, l2)
        self.history: list[dict] = []
        self._reset_wanted = False
        self.redraw()

    def start(self) -> None:
        """Train until the epochs box is reached or Stop is pressed."""
        if self.running:
            raise RuntimeError("The playground is already training: press Stop first.")
        self._stop = False
        self._run = TrainingRun(self._loop, mode=self.mode, on_done=self._done)
        self.status.value = "training"
        self._run.start()

    def stop(self) -> None:
        """Stop after the running few epochs."""
        self._stop = True

    def wait(self, timeout: float | None = None) -> "Playground":
        """Block until training ends; re-raise its error if it failed."""
        if self._run is not None:
            if not self._run.wait(timeout):
                raise TimeoutError(f"The playground is still training after {timeout} s; call stop().")
            if self._run.error is not None:
                raise self._run.error
        return self

    @property
    def running(self) -> bool:
        """True while training runs in the background thread."""
        return self._run is not None and self._run.running

    def accuracy(self) -> float:
        """Return the network's accuracy on the task's points now."""
        p = self.model.predict(self.x, verbose=0)[:, 0]
        return float(((p > 0.5) == (self.y == 1)).mean())

    def redraw(self) -> None:
        """Draw the decision surface, the points and the loss curve into the panel."""
        from matplotlib.figure import Figure

        if self._fig is None:
            self._fig = Figure(figsize=(8, 3.6))
        draw_playground(self._fig, decision_surface(self.model), self.x, self.y, self.history)
        self.plot.value = figure_png(self._fig)

    # --- internals --------------------------------------------------------------------------
    def _loop(self) -> None:
        goal = max(1, int(self.controls["epochs"].value))
        while len(self.history) < goal and not self._stop:
            if self._reset_wanted:
                self.reset()
            lr = self.controls["lr"].value
            if not math.isclose(current_learning_rate(self.model.optimizer), lr, rel_tol=1e-6):
                self.model.optimizer.learning_rate = lr  # between fits: safe on every backend
            done = len(self.history)
            chunk = min(self.EPOCHS_PER_FIT, goal - done)
            fit = self.model.fit(self.x, self.y, batch_size=self.batch_size, epochs=done + chunk,
                                 initial_epoch=done, verbose=0)
            for i in range(chunk):
                self.history.append({k: float(v[i]) for k, v in fit.history.items()})
            self.status.value = (f"epoch {len(self.history)}/{goal} · loss {self.history[-1]['loss']:.3f}"
                                 f" · accuracy {self.history[-1]['accuracy']:.2f}")
            if time.monotonic() - self._last_draw > 0.5:
                self.redraw()
                self._last_draw = time.monotonic()
            if self._pump is not None:
                self._pump()

    def _done(self, run: TrainingRun) -> None:
        if run.error is not None:
            self.status.value = f"<b style='color:#b00'>failed: {type(run.error).__name__}: {run.error}</b>"
        else:
            self.redraw()

    def _request_reset(self) -> None:
        if self.running:
            self._reset_wanted = True  # the loop starts afresh before its next few epochs
        else:
            self._safely(self.reset)

    def _safely(self, action) -> None:
        try:
            action()
        except Exception as error:  # noqa: BLE001 - a click has no caller to raise to
            self.status.value = f"<b style='color:#b00'>{type(error).__name__}: {error}</b>"
