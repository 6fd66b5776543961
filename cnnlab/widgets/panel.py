"""The live training panel: train a compiled Keras model and tune lr and dropout while it trains.

::

    panel = cnnlab.widgets.train(model, (x_train, y_train), (x_val, y_val), epochs=5,
                                 autostart=True)
    # JupyterLab, Notebook 7, VS Code: the cell returns, training goes on in a thread;
    # drag the sliders, press Pause / Resume / Stop; at any time:
    print(panel.summary())        # running or finished, the changes a batch used, validation
    panel.record                  # one row per batch: step, epoch, loss, metrics, lr, dropout
    panel.replay_callback()       # a Keras callback that repeats the session's changes

Run headless (papermill, nbval, a script: no one can click), the same ``train(...,
autostart=True)`` trains to the end before it returns and re-raises a training error, so the
cells after it see the finished record; :mod:`cnnlab.widgets.runner` says how the two are
told apart and where training runs on Colab.

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
- A slider move is a request: the log says "requested", then "applied" with the step of the
  first batch that used it once that batch has ended (only then is it in ``panel.changes``).
  A request no batch took up before training ended is logged as not applied; it applies
  from the first batch of the next training.
- Reset weights restores the weights the model had when the panel was made, zeroes the
  optimizer's state (keeping the learning rate) and starts a new record.
- Values typed into a box are clamped to the slider's range, with a message in the log.
- The figure is drawn only for a panel shown in a notebook (or with ``draw=True``), as SVG
  (:mod:`cnnlab.widgets.panel_plot`) every ``redraw_every`` seconds and at once when a change
  was applied, in a drawing thread; the progress line (step, smoothed loss, ETA) is updated
  with it. Per batch the training loop only notes the step and the values in force; Keras'
  logs reach the panel from Keras' own worker thread, so it adds no host-device sync.
"""

from __future__ import annotations

import math
import time

import numpy as np

from cnnlab.layers import tunable_dropout_layers
from cnnlab.widgets.live import (SCHEDULE_NOTE, LiveControls, Replay, current_learning_rate,
                                 learning_rate_is_tunable, learning_rate_schedule)
from cnnlab.widgets.panel_inputs import (check_compiled, dropout_note, is_arrays, show_widget,
                                         steps_per_epoch)
from cnnlab.widgets.panel_plot import Curves, placeholder_svg, training_svg
from cnnlab.widgets.panel_view import PanelView, clamp, progress_text, summary_text
from cnnlab.widgets.runner import Redrawer, TrainingRun, UIPump, headless_reason, pick_mode


def train(model, train_data, val_data=None, *, epochs: int = 5, batch_size: int = 32,
          autostart: bool = False, block: bool = False, mode: str = "auto",
          lr_range: tuple[float, float] = (1e-5, 1.0), callbacks=(), display: bool = True,
          draw: bool | None = None, redraw_every: float = 0.5) -> "TrainingPanel":
    """Return a :class:`TrainingPanel` for ``model`` (shown in the notebook), started if ``autostart``.

    ``train_data`` and ``val_data`` are ``(x, y)`` arrays or anything ``fit`` accepts (a
    ``tf.data.Dataset`` or ``PyDataset``; the batch-size box is then disabled). With a front
    end, ``autostart`` trains in the background and returns at once; headless (``mode``
    'block', see :func:`cnnlab.widgets.runner.pick_mode`) it returns when training has ended
    and re-raises its error. ``block=True`` waits for the end in any mode. The figure is drawn
    every ``redraw_every`` s when the panel is shown in a notebook; ``draw`` forces it on or off.
    """
    panel = TrainingPanel(model, train_data, val_data, epochs=epochs, batch_size=batch_size,
                          mode=mode, lr_range=lr_range, callbacks=callbacks, draw=draw,
                          redraw_every=redraw_every)
    if display:
        panel.show()
    if autostart or block:
        panel.start()
    if block or panel._run is not None and panel._run.mode == "block":
        panel.wait()
    return panel


class TrainingPanel:
    """A compiled model, its data, the live controls and their widgets; see the module docstring."""

    def __init__(self, model, train_data, val_data=None, *, epochs=5, batch_size=32, mode="auto",
                 lr_range=(1e-5, 1.0), callbacks=(), draw=None, redraw_every=0.5):
        check_compiled(model)
        self.model = model
        self.mode = pick_mode(mode)
        self.headless = headless_reason() if self.mode == "block" else None
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
        self.controls.on_change = self._applied
        self._pump = pump
        self._run: TrainingRun | None = None
        self.redrawer = Redrawer(self._refresh, redraw_every)
        self._curves = Curves()
        self._messages: list[str] = []  # log lines from the training threads, shown by _refresh
        self._started_at = 0.0
        self._start_step = self._start_epochs = 0
        self._epochs = epochs
        self._rate_ref: tuple[float, int] | None = None
        self._total_steps = 0
        self._drawn = None

        lr_note = None if learning_rate_is_tunable(model.optimizer) else SCHEDULE_NOTE
        lr = current_learning_rate(model.optimizer)
        layers = tunable_dropout_layers(model)
        self.view = PanelView(
            lr=min(max(lr, self.lr_range[0]), self.lr_range[1]), lr_range=self.lr_range,
            dropout=layers[0].get_rate() if layers else None, dropout_note=dropout_note(model),
            lr_note=lr_note, epochs=epochs, batch_size=batch_size if is_arrays(train_data) else None)
        self._wire()

    # --- public controls ------------------------------------------------------------------
    def show(self) -> None:
        """Display the panel in the notebook (does nothing in a plain script)."""
        if show_widget(self.view.widget) and self._draw_requested is None:
            self.drawing = True

    def start(self) -> None:
        """Train for the epochs and batch size in the boxes (from the current weights)."""
        self._start(self.mode)

    def _start(self, mode: str) -> None:
        if self._run is not None and self._run.running:
            raise RuntimeError("Training is already running: Stop it (panel.stop()) first.")
        epochs, batch_size = self._read_sizes()
        self._epochs = epochs
        self._start_step, self._start_epochs = self.controls.step, self.controls.epochs_done
        self._total_steps = self._start_step + epochs * steps_per_epoch(self.train_data, batch_size)
        self.view.progress.max = max(self._total_steps, 1)
        self.view.error.value = ""
        self._started_at = time.monotonic()
        self._rate_ref = None
        self.view.set_running(True)
        self.view.status.value = "training: tracing the train step"
        if self.drawing and not len(self._curves):
            self.view.plot.value = placeholder_svg("Training started: the curves appear after the "
                                                   "first batch (it also compiles the train step).")
        self._run = TrainingRun(lambda: self._fit(epochs, batch_size), mode=mode,
                                on_done=self._done)
        if mode != "block":
            self.redrawer.start(threaded=mode == "thread")
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
        self.view.add_log(f"paused after step {self.controls.step}: no batch runs until Resume")

    def resume(self) -> None:
        """Continue a paused training."""
        self.controls.resume()
        self.view.set_running(self.running, paused=False)
        self.view.status.value = "training"
        self.view.add_log("resumed")

    def stop(self) -> None:
        """End training after the running batch; the weights and the record are kept."""
        self.controls.stop()
        if self.running:
            self.view.add_log("stop requested: training ends after the running batch")

    def set_lr(self, value: float) -> None:
        """Use learning rate ``value`` (clamped to the slider's range) from the next batch on."""
        if self.view.lr.disabled:
            raise ValueError(f"Cannot change the learning rate: {SCHEDULE_NOTE}")
        self.view.lr_box.value = float(value)

    def set_dropout(self, value: float) -> None:
        """Use dropout rate ``value`` (clamped to [0, 0.9]) in every TunableDropout from the next batch on."""
        if self.view.dropout.disabled:
            raise ValueError(f"Cannot change dropout: {dropout_note(self.model)}")
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
        self._curves.reset()
        self.view.progress.value = 0
        self.view.add_log("weights reset: new record")
        if self.drawing:
            self.view.plot.value = placeholder_svg()

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
        """The applied lr and dropout changes: columns step (the first batch that used it), name, old, new."""
        return self.controls.change_log()

    @property
    def validation(self):
        """One row per finished epoch: step, epoch, the validation loss and metrics."""
        import pandas as pd

        rows = list(self.controls.val_rows)
        return pd.DataFrame(rows) if rows else pd.DataFrame(columns=["step", "epoch"])

    def summary(self) -> str:
        """Return the state in a few lines: running or finished, the changes batches used, validation."""
        c = self.controls
        if self.running:
            state = "training, still running in the background (run this again for newer numbers)"
        elif self.error is not None:
            state = f"training failed: {type(self.error).__name__}: {self.error}"
        elif self._run is None:
            state = "not started: press Train"
        else:
            state = "stopped" if c._stop else "finished"
        return summary_text(state, c.step, c.epochs_done, self.changes, c.pending(), list(c.val_rows))

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
        if is_arrays(self.train_data):
            x, y = self.train_data
            self.model.fit(x, y, batch_size=batch_size, **kwargs)
        else:
            self.model.fit(self.train_data, **kwargs)

    def _done(self, run: TrainingRun) -> None:
        self.redrawer.stop()
        c = self.controls
        for name, value in c.pending().items():  # requested, but no batch of this run took it up
            self._messages.append(f"{name} {value:g} not applied: training ended at step {c.step} "
                                  "before another batch; it applies from the next training's first batch")
        self.view.set_running(False)
        self._refresh(final=True)
        if run.error is not None:
            self.view.status.value = "<b style='color:#b00'>failed</b>"
            self.view.show_error(run.traceback)
        else:
            elapsed = time.monotonic() - self._started_at
            self.view.status.value = (f"{'stopped' if c._stop else 'finished'} · step {c.step} · "
                                      f"{elapsed:.0f} s")

    def _tick(self) -> None:
        """Before each batch, in the training thread: as little as possible."""
        if self._pump is not None:
            self._pump()
            self.redrawer.tick()  # 'cell' mode: Colab shows no updates from other threads

    def _applied(self, change: dict) -> None:
        """A batch that used ``change`` has ended (Keras' worker thread): log it, redraw now."""
        self._messages.append(f"step {change['step']}: {change['name']} {change['old']:g} -> "
                              f"{change['new']:g} applied (first batch using it)")
        self.redrawer.poke()

    def _refresh(self, final: bool = False) -> None:
        """Bring the figure, progress line and log up to date with the record (drawing thread)."""
        c, view, now = self.controls, self.view, time.monotonic()
        new = self._curves.update(c.rows_from(self._curves.next_step))
        done = self._curves.next_step
        while self._messages:
            view.add_log(self._messages.pop(0))
        if not self._total_steps and c.epochs_done > self._start_epochs:  # no len(): learn it
            per_epoch = (c.step - self._start_step) / (c.epochs_done - self._start_epochs)
            self._total_steps = self._start_step + round(per_epoch * self._epochs)
            view.progress.max = self._total_steps
        if self._rate_ref is None and done > self._start_step:
            self._rate_ref = (now, done)  # after the first batch: tracing is not in the rate
        eta = None
        if self._rate_ref is not None and self._total_steps:
            since, base = now - self._rate_ref[0], self._rate_ref[1]
            if done > base and since >= 0.5:
                eta = (self._total_steps - done) * since / (done - base)
        view.progress.value = min(done, view.progress.max) if self._total_steps else 0
        if not final:
            view.status.value = progress_text(done, self._total_steps or None,
                                              now - self._started_at, eta, self._curves.last("loss"))
        if self.drawing and len(self._curves):
            changes = [ch for ch in list(c.changes) if ch["name"] != "start"]
            key = (done, len(changes), len(c.val_rows), final)
            if new or key != self._drawn:
                total = None if final else self._total_steps
                view.plot.value = training_svg(self._curves, list(c.val_rows), changes, total)
                self._drawn = key

    def _read_sizes(self):
        view = self.view
        epochs, note = clamp(view.epochs.value, 1, 10_000, "epochs")
        if note:
            view.add_log(note)
            view.epochs.value = int(epochs)
        batch_size = None
        if is_arrays(self.train_data):
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
        # A click means someone is there: train in the background even if the cell looked headless.
        actions = {"Train": lambda: self._start("thread" if self.mode == "block" else self.mode),
                   "Pause": self.pause, "Resume": self.resume,
                   "Stop": self.stop, "Reset weights": self.reset_weights}
        for name, action in actions.items():
            view.buttons[name].on_click(lambda _, action=action: self._safely(action))

    def _slider_moved(self, name, value, box):
        if box.value != value:
            box.value = value
        if name == "lr":
            value = float(f"{value:.3g}")
        self._request(name, value)

    def _request(self, name, value):
        self.controls.request(name, value)
        when = "the next batch" if self.running else "the first batch of the next training"
        self.view.add_log(f"{name} -> {value:g} requested: applies from {when}")

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
            self._request(name, bounded)

    def _safely(self, action):
        try:
            action()
        except Exception as error:  # noqa: BLE001 - a click has no caller to raise to
            self.view.add_log(f"{type(error).__name__}: {error}")
