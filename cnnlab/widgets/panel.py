"""The live training panel: train a compiled Keras model and tune lr and dropout while it trains.

::

    panel = cnnlab.widgets.train(model, (x_train, y_train), (x_val, y_val), epochs=5)
    # drag the sliders, press Pause / Resume / Stop; afterwards:
    panel.record                  # one row per batch: step, epoch, loss, metrics, lr, dropout
    panel.replay_callback()       # a Keras callback that repeats the session's changes

Without a front end (papermill, nbval, scripts) nothing can be clicked, so start and wait::

    panel = cnnlab.widgets.train(model, data, val, epochs=2, autostart=True)
    panel.wait()                  # returns when training ends, re-raises its error if it failed

Decisions a user may trip over:

- The model must be compiled: the panel cannot guess the loss, so an uncompiled model is an
  error that says how to compile it.
- Dropout is tunable only through :class:`cnnlab.layers.TunableDropout`; Keras' ``Dropout``
  bakes its rate into the traced train step. A model without TunableDropout gets a greyed-out
  slider and a note naming :func:`cnnlab.layers.make_dropout_tunable`. The slider sets every
  TunableDropout layer to the same rate.
- An optimizer built on a ``LearningRateSchedule`` keeps its schedule: the lr slider is greyed
  out with a note (use :meth:`TrainingPanel.lr_schedule` to turn a hand-tuned session into
  such a schedule).
- Reset weights restores the weights the model had when the panel was made, zeroes the
  optimizer's state (keeping the learning rate) and starts a new record.
- Values typed into a box are clamped to the slider's range, with a message in the log.
- The figure is drawn only for a panel shown in a notebook (or with ``draw=True``): at most
  every ``redraw_every`` seconds and in at most 2% of the training time, plus once at the end.
  Per batch the panel does no more than note the step and the values in force; Keras' logs
  reach it from Keras' own worker thread, so it adds no host-device sync.

Where training runs (background thread or the cell itself, per front end) is explained in
:mod:`cnnlab.widgets.runner`.
"""

from __future__ import annotations

import math
import time

import keras
import numpy as np

from cnnlab.layers import tunable_dropout_layers
from cnnlab.widgets.live import (SCHEDULE_NOTE, LiveControls, Replay, current_learning_rate,
                                 learning_rate_is_tunable, learning_rate_schedule)
from cnnlab.widgets.panel_view import PanelView, clamp, draw_training, eta_text, figure_png
from cnnlab.widgets.runner import TrainingRun, UIPump, pick_mode


def train(model, train_data, val_data=None, *, epochs: int = 5, batch_size: int = 32,
          autostart: bool = False, block: bool = False, mode: str = "auto",
          lr_range: tuple[float, float] = (1e-5, 1.0), callbacks=(), display: bool = True,
          draw: bool | None = None, redraw_every: float = 1.0) -> "TrainingPanel":
    """Return a :class:`TrainingPanel` for ``model`` (shown in the notebook), started if ``autostart``.

    ``train_data`` and ``val_data`` are ``(x, y)`` arrays or anything ``fit`` accepts (a
    ``tf.data.Dataset`` or ``PyDataset``; the batch-size box is then disabled). ``block=True``
    starts training and returns when it has ended, for scripts and CI. The figure is drawn
    (at most every ``redraw_every`` s, and in at most 2% of the training time) when the panel is
    shown in a notebook; ``draw`` True or False forces it on or off.
    """
    panel = TrainingPanel(model, train_data, val_data, epochs=epochs, batch_size=batch_size,
                          mode=mode, lr_range=lr_range, callbacks=callbacks, draw=draw,
                          redraw_every=redraw_every)
    if display:
        panel.show()
    if autostart or block:
        panel.start()
    if block:
        panel.wait()
    return panel


class TrainingPanel:
    """A compiled model, its data, the live controls and their widgets; see the module docstring."""

    def __init__(self, model, train_data, val_data=None, *, epochs=5, batch_size=32, mode="auto",
                 lr_range=(1e-5, 1.0), callbacks=(), draw=None, redraw_every=1.0):
        _check_compiled(model)
        self.model = model
        self.mode = pick_mode(mode)
        self.train_data, self.val_data = train_data, val_data
        self.extra_callbacks = list(callbacks)
        self.redraw_every = redraw_every
        self._draw_requested = draw
        self.drawing = bool(draw)  # no one sees the figure of a panel never shown: no drawing
        self.lr_range = (float(lr_range[0]), float(lr_range[1]))
        self._initial_weights = [np.array(v) for v in model.get_weights()]
        pump = UIPump() if self.mode == "cell" else None
        self.controls = LiveControls(idle=pump)
        self.controls.on_tick = self._tick
        self._pump = pump
        self._run: TrainingRun | None = None
        self._started_at = 0.0
        self._start_step = 0
        self._next_draw = 0.0
        self._draw_time = 0.0
        self._next_status = 0.0
        self._total_steps = 0
        self._fig = None

        lr_note = None if learning_rate_is_tunable(model.optimizer) else SCHEDULE_NOTE
        lr = current_learning_rate(model.optimizer)
        layers = tunable_dropout_layers(model)
        self.view = PanelView(
            lr=min(max(lr, self.lr_range[0]), self.lr_range[1]), lr_range=self.lr_range,
            dropout=layers[0].get_rate() if layers else None, dropout_note=_dropout_note(model),
            lr_note=lr_note, epochs=epochs, batch_size=batch_size if _is_arrays(train_data) else None)
        self._wire()

    # --- public controls ------------------------------------------------------------------
    def show(self) -> None:
        """Display the panel in the notebook (does nothing in a plain script)."""
        if show_widget(self.view.widget) and self._draw_requested is None:
            self.drawing = True

    def start(self) -> None:
        """Train for the epochs and batch size in the boxes (from the current weights)."""
        if self._run is not None and self._run.running:
            raise RuntimeError("Training is already running: Stop it (panel.stop()) first.")
        epochs, batch_size = self._read_sizes()
        self._total_steps = self.controls.step + epochs * _steps_per_epoch(self.train_data, batch_size)
        self.view.progress.max = max(self._total_steps, 1)
        self.view.error.value = ""
        self._started_at = time.monotonic()
        self._next_draw = self._started_at + self.redraw_every  # nothing to draw before that
        self._draw_time = 0.05  # a guess until the first drawing is timed
        self._start_step = self.controls.step
        self.view.set_running(True)
        self.view.status.value = "training"
        self._run = TrainingRun(lambda: self._fit(epochs, batch_size), mode=self.mode,
                                on_done=self._done)
        self._run.start()

    def wait(self, timeout: float | None = None) -> "TrainingPanel":
        """Block until training ends and return the panel; re-raise the error if training failed."""
        if self._run is None:
            raise RuntimeError("Nothing to wait for: start training first (panel.start() or "
                               "train(..., autostart=True)).")
        if not self._run.wait(timeout):
            raise TimeoutError(f"Training still running after {timeout} s; call panel.stop() to end it.")
        if self._run.error is not None:
            raise self._run.error
        return self

    def pause(self) -> None:
        """Hold training before its next batch."""
        self.controls.pause()
        self.view.set_running(self.running, paused=True)
        self.view.status.value = "paused"
        self.view.add_log(f"step {self.controls.step}: paused")

    def resume(self) -> None:
        """Continue a paused training."""
        self.controls.resume()
        self.view.set_running(self.running, paused=False)
        self.view.status.value = "training"
        self.view.add_log(f"step {self.controls.step}: resumed")

    def stop(self) -> None:
        """End training after the running batch; the weights and the record are kept."""
        self.controls.stop()
        self.view.add_log(f"step {self.controls.step}: stop requested")

    def set_lr(self, value: float) -> None:
        """Use learning rate ``value`` (clamped to the slider's range) from the next batch on."""
        if self.view.lr.disabled:
            raise ValueError(f"Cannot change the learning rate: {SCHEDULE_NOTE}")
        self.view.lr_box.value = float(value)

    def set_dropout(self, value: float) -> None:
        """Use dropout rate ``value`` (clamped to [0, 0.9]) in every TunableDropout from the next batch on."""
        if self.view.dropout.disabled:
            raise ValueError(f"Cannot change dropout: {_dropout_note(self.model)}")
        self.view.dropout_box.value = float(value)

    def reset_weights(self) -> None:
        """Restore the initial weights, zero the optimizer's state and start a new record."""
        if self.running:
            raise RuntimeError("Stop training before resetting the weights.")
        self.model.set_weights(self._initial_weights)
        if not self.view.dropout.disabled:  # the weights include the rates: keep the slider's
            for layer in tunable_dropout_layers(self.model):
                layer.set_rate(self.view.dropout.value)
        lr_variable = getattr(self.model.optimizer, "_learning_rate", None)
        for variable in self.model.optimizer.variables:
            if variable is not lr_variable:
                variable.assign(np.zeros(variable.shape, variable.dtype))
        self.controls.reset_record()
        self.view.progress.value = 0
        self.view.add_log("weights reset: new record")
        if self.drawing:
            self._redraw(planned=False)

    # --- results ----------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """True while training runs (in the background thread)."""
        return self._run is not None and self._run.running

    @property
    def error(self) -> BaseException | None:
        """The exception that ended the last training, or None."""
        return None if self._run is None else self._run.error

    @property
    def record(self):
        """One row per batch (step, epoch, Keras' running loss/metrics, batch_* values, lr, dropout)."""
        return self.controls.record()

    @property
    def changes(self):
        """The lr and dropout changes: step from which each applied, control, old and new value."""
        return self.controls.change_log()

    @property
    def validation(self):
        """One row per epoch with the validation loss and metrics."""
        import pandas as pd

        return pd.DataFrame(self.controls.val_rows)

    def schedule(self) -> list[tuple[int, float, float]]:
        """Return ``(step, lr, dropout)`` at the start and after each change."""
        return self.controls.schedule()

    def replay_callback(self) -> Replay:
        """Return a Keras callback that re-applies this session's lr and dropout changes at the same steps."""
        return Replay(self.schedule())

    def lr_schedule(self):
        """Return the session's learning rates as a Keras ``PiecewiseConstantDecay`` schedule."""
        return learning_rate_schedule(self.schedule())

    def __repr__(self) -> str:
        state = "running" if self.running else ("failed" if self.error else "idle")
        return f"<TrainingPanel {state}: {self.controls.step} steps recorded>"

    # --- internals --------------------------------------------------------------------------
    def _fit(self, epochs, batch_size):
        kwargs = dict(epochs=epochs, verbose=0,
                      callbacks=[self.controls, *self.extra_callbacks],
                      validation_data=self.val_data)
        if _is_arrays(self.train_data):
            x, y = self.train_data
            self.model.fit(x, y, batch_size=batch_size, **kwargs)
        else:
            self.model.fit(self.train_data, **kwargs)

    def _done(self, run: TrainingRun) -> None:
        self.view.set_running(False)
        self.view.progress.value = min(self.controls.step, self.view.progress.max)
        if run.error is not None:
            self.view.status.value = "<b style='color:#b00'>failed</b>"
            self.view.show_error(run.traceback)
        else:
            self.view.status.value = "stopped" if self.controls._stop else "finished"
        if self.drawing:
            self._redraw(planned=False)

    def _tick(self) -> None:
        now = time.monotonic()
        if self._pump is not None:
            self._pump()
        if now >= self._next_status:
            self._next_status = now + 0.25
            step = self.controls.step
            self.view.progress.value = min(step, self.view.progress.max)
            self.view.status.value = eta_text(step - self._start_step,
                                              self._total_steps - self._start_step,
                                              now - self._started_at)
        # Redraw every `redraw_every` seconds at most, and only while all drawing so far stays
        # under 2% of the training time, however slowly this machine draws.
        if (self.drawing and now >= self._next_draw
                and self._draw_time <= 0.02 * (now - self._started_at)):
            began = time.monotonic()
            self._redraw()
            self._draw_time += time.monotonic() - began
            self._next_draw = time.monotonic() + self.redraw_every

    def _redraw(self, planned: bool = True) -> None:
        """Draw the figure; while training its x axis spans the planned steps, after it the record."""
        from matplotlib.figure import Figure

        if self._fig is None:
            self._fig = Figure(figsize=(8, 6))
        draw_training(self._fig, self.record, self.controls.val_rows, self.changes,
                      self._total_steps if planned else None)
        self.view.plot.value = figure_png(self._fig)

    def _read_sizes(self):
        view = self.view
        epochs, note = clamp(view.epochs.value, 1, 10_000, "epochs")
        if note:
            view.add_log(note)
            view.epochs.value = int(epochs)
        batch_size = None
        if _is_arrays(self.train_data):
            batch_size, note = clamp(view.batch_size.value, 1, len(self.train_data[0]), "batch size")
            if note:
                view.add_log(note)
                view.batch_size.value = int(batch_size)
        return int(epochs), None if batch_size is None else int(batch_size)

    def _wire(self) -> None:
        view = self.view
        for name, slider, box, low, high in [
            ("lr", view.lr, view.lr_box, *self.lr_range),
            ("dropout", view.dropout, view.dropout_box, 0.0, view.dropout.max),
        ]:
            slider.observe(lambda c, name=name, box=box: self._slider_moved(name, c.new, box), "value")
            box.observe(lambda c, name=name, slider=slider, low=low, high=high:
                        self._typed(name, c.new, slider, low, high), "value")
        actions = {"Train": self.start, "Pause": self.pause, "Resume": self.resume,
                   "Stop": self.stop, "Reset weights": self.reset_weights}
        for name, action in actions.items():
            view.buttons[name].on_click(lambda _, action=action: self._safely(action))

    def _slider_moved(self, name, value, box):
        if box.value != value:
            box.value = value
        if name == "lr":
            value = float(f"{value:.3g}")
        self.controls.request(name, value)
        self.view.add_log(f"step {self.controls.step}: {name} -> {value:g}")

    def _typed(self, name, value, slider, low, high):
        label = "learning rate" if name == "lr" else "dropout"
        bounded, note = clamp(value, low, high, label)
        if note:
            self.view.add_log(note)
            box = self.view.lr_box if name == "lr" else self.view.dropout_box
            box.value = bounded  # observed again, now in range
            return
        if not math.isclose(slider.value, bounded, rel_tol=1e-9):
            slider.value = bounded  # the slider's observer sends the request
        elif self.controls.values.get(name) != bounded:
            self.controls.request(name, bounded)

    def _safely(self, action):
        try:
            action()
        except Exception as error:  # noqa: BLE001 - a click has no caller to raise to
            self.view.add_log(f"{type(error).__name__}: {error}")


def show_widget(widget) -> bool:
    """Display ``widget`` under IPython and return True; in a plain script (it would only print its repr) return False."""
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        return False
    if get_ipython() is None:
        return False
    display(widget)
    return True


def _check_compiled(model) -> None:
    if not isinstance(model, keras.Model):
        raise TypeError(f"train expects a keras.Model, got {type(model).__name__}.")
    if getattr(model, "optimizer", None) is None or not getattr(model, "compiled", False):
        raise ValueError(
            "The model is not compiled, and the panel cannot guess its loss. Compile it first, "
            "e.g. model.compile(optimizer=keras.optimizers.SGD(0.01), "
            "loss='sparse_categorical_crossentropy', metrics=['accuracy']).")


def _dropout_note(model) -> str:
    fixed = [l for l in model._flatten_layers(include_self=False) if type(l) is keras.layers.Dropout]
    if fixed:
        return (f"Dropout fixed: the model's {len(fixed)} keras Dropout layer(s) bake their rate into "
                "the compiled train step. Convert with cnnlab.layers.make_dropout_tunable(model) "
                "and compile the copy to tune it live.")
    return "Dropout off: the model has no dropout layer (add cnnlab.layers.TunableDropout to tune it)."


def _is_arrays(data) -> bool:
    return isinstance(data, (tuple, list)) and len(data) == 2 and hasattr(data[0], "shape")


def _steps_per_epoch(data, batch_size) -> int:
    if _is_arrays(data):
        return math.ceil(len(data[0]) / batch_size)
    try:
        return int(len(data))
    except TypeError:
        return 0
