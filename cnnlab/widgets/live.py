"""The engine under the training panel: a Keras callback that applies slider moves between batches.

:class:`LiveControls` has no widgets in it, so scripts and tests drive it directly. Another
thread (the panel's slider handlers) calls :meth:`LiveControls.request`, :meth:`pause`,
:meth:`resume` and :meth:`stop`; the callback acts on them at the start of the next batch,
in the thread that trains:

- The learning rate is the optimizer's variable and dropout is the variable of every
  :class:`cnnlab.layers.TunableDropout`, so a new value reaches the compiled train step.
- On JAX the trainer keeps its own copy of every variable during ``fit`` and writes it back
  at the end of the epoch, so a value assigned from outside is lost. The callback assigns
  only through ``self.model``: reading that property writes the trainer's state back into
  the variables and tells the trainer to read them again before the next batch.
- A change counts as applied only once a batch that used it has ended: it enters
  :attr:`LiveControls.changes` (and :attr:`on_change` is called) when that batch's logs
  arrive. A request that no batch took up (training ended first) stays in :meth:`pending`
  for the next run.
- Per batch the callback records the step and the values in force; Keras' logs (the loss
  and metrics, averaged since the start of the epoch) arrive in
  ``on_train_batch_end``, which is marked ``async_safe`` so Keras hands them over from a
  worker thread and the training loop never waits for the device to report a number.
- With ``steps_per_execution=k`` Keras calls back once per chunk of k batches: changes take
  effect at the next chunk and the record holds one row per chunk.
"""

from __future__ import annotations

import threading
import time

import keras
import numpy as np
import pandas as pd

from cnnlab.layers import tunable_dropout_layers

SCHEDULE_NOTE = ("the optimizer was built with a LearningRateSchedule, which fixes the rate step by "
                 "step; build it with a float learning_rate (e.g. keras.optimizers.SGD(0.01)) to "
                 "tune the rate live.")


# Keras 3.11 and later pass a steps_per_execution chunk's last batch to on_train_batch_end;
# earlier releases (Colab's 3.10 among them) pass its first, like on_train_batch_begin.
_END_GETS_FIRST_BATCH = tuple(int(p) for p in keras.version().split(".")[:2]) < (3, 11)


def chunk_last_batch(callback: keras.callbacks.Callback, begin: int, batch: int) -> int:
    """Return the index of the last batch of the chunk that began at ``begin`` and ended at ``batch``."""
    if batch > begin or not _END_GETS_FIRST_BATCH:
        return batch
    # callback._model: on JAX the public property syncs the whole training state, every call.
    size = int(getattr(callback._model, "steps_per_execution", 1) or 1)
    steps = (callback.params or {}).get("steps")
    return begin + (min(size, steps - begin) if steps else size) - 1


def learning_rate_is_tunable(optimizer) -> bool:
    """Return True if ``optimizer`` keeps its learning rate in a variable that can be assigned."""
    return isinstance(getattr(optimizer, "_learning_rate", None), keras.Variable)


class LiveControls(keras.callbacks.Callback):
    """Keras callback that applies requested lr/dropout changes between batches and records each batch."""

    # Keras then delivers batch logs from a worker thread: no host sync per batch.
    async_safe = True

    def __init__(self, *, idle=None):
        super().__init__()
        self._idle = idle  # called while paused; the main-thread runner pumps UI events there
        self._lock = threading.Lock()
        self._pending: dict[str, float] = {}
        self._running = threading.Event()
        self._running.set()
        self._stop = False
        self.values = {"lr": float("nan"), "dropout": float("nan")}
        self.changes: list[dict] = []   # applied changes: a batch that used the value has ended
        self._applying: list[dict] = []  # assigned, waiting for the end of the first batch using them
        self.rows: dict[int, dict] = {}
        self.val_rows: list[dict] = []
        self.step = 0            # batches run in all fits since the last reset
        self.epoch = 0           # index of the running epoch, counted over all fits
        self.epochs_done = 0
        self._chunks = []
        self._epoch_start = 0
        self._epoch_offset = 0
        self.on_tick = None      # called in the training thread before each batch (panel redraws)
        self.on_epoch = None
        self.on_change = None    # called with each change once a batch used it (any thread)

    # --- requests from any thread ---------------------------------------------------------
    def request(self, name: str, value: float) -> None:
        """Ask for ``lr`` or ``dropout`` to become ``value`` from the next batch on."""
        if name not in self.values:
            raise ValueError(f"unknown control {name!r}: expected 'lr' or 'dropout'")
        with self._lock:
            self._pending[name] = float(value)

    def pause(self) -> None:
        """Hold training before the next batch until :meth:`resume` or :meth:`stop`."""
        self._running.clear()

    def resume(self) -> None:
        """Let a paused training go on."""
        self._running.set()

    def stop(self) -> None:
        """End training after the batch that is running; weights and record are kept."""
        self._stop = True
        self._running.set()

    def pending(self) -> dict[str, float]:
        """Return the requests no batch has taken up yet (they apply from the next batch that runs)."""
        with self._lock:
            return dict(self._pending)

    @property
    def paused(self) -> bool:
        """True while a pause is requested."""
        return not self._running.is_set()

    def reset_record(self) -> None:
        """Forget every recorded batch and change (after the weights were reset)."""
        with self._lock:
            self.changes.clear()
            self._applying.clear()
            self.rows.clear()
            self.val_rows.clear()
        self.step = self.epoch = self.epochs_done = 0

    # --- Keras hooks (training thread) ----------------------------------------------------
    def on_train_begin(self, logs=None):
        self._stop = False
        with self._lock:
            self._applying.clear()  # assigned in a run whose batch never ended: never used
        model = self.model
        self.values["lr"] = current_learning_rate(model.optimizer)
        layers = tunable_dropout_layers(model)
        self.values["dropout"] = layers[0].get_rate() if layers else float("nan")
        self._epoch_offset = self.epochs_done
        if not self.changes:
            self.changes.append({"step": self.step, "name": "start", **self.values})
            return
        last = self.changes[-1]
        for name in ("lr", "dropout"):  # changed between two runs, outside the panel
            if not np.isclose(last[name], self.values[name], equal_nan=True):
                self.changes.append({"step": self.step, "name": name, "old": last[name],
                                     "new": self.values[name], **self.values})

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = self._epoch_offset + epoch
        self._epoch_start = self.step
        self._chunks = []

    def on_train_batch_begin(self, batch, logs=None):
        self.step = self._epoch_start + batch  # batches done so far: the index of this one
        while not self._running.is_set():
            if self._idle is not None:
                self._idle()
            self._running.wait(0.05)
        if self._stop:
            self._model.stop_training = True
        if self._pending:
            with self._lock:
                pending, self._pending = self._pending, {}
            self._apply(pending)
        self._chunks.append((batch, self.values["lr"], self.values["dropout"]))
        if self.on_tick is not None:
            self.on_tick()

    def on_train_batch_end(self, batch, logs=None):
        # May run in a Keras worker thread, after the next batch has begun: find this chunk.
        chunks, epoch, start = self._chunks, self.epoch, self._epoch_start
        begin, lr, dropout = next(c for c in reversed(chunks) if c[0] <= batch)
        batch = chunk_last_batch(self, begin, batch)
        row = {"step": start + begin, "epoch": epoch, "batches": batch - begin + 1, "lr": lr,
               "dropout": dropout}
        row.update({k: float(v) for k, v in (logs or {}).items()})
        with self._lock:
            self.rows[row["step"]] = row
            used = [c for c in self._applying if c["step"] <= row["step"]]
            if used:
                self._applying = [c for c in self._applying if c["step"] > row["step"]]
                self.changes.extend(used)
        if used and self.on_change is not None:
            for change in used:
                self.on_change(change)

    def on_epoch_end(self, epoch, logs=None):
        with self._lock:
            done = [s + r["batches"] for s, r in self.rows.items() if r["epoch"] == self.epoch]
        self.step = max(done, default=self.step)
        val = {k: float(v) for k, v in (logs or {}).items() if k.startswith("val_")}
        if val:
            self.val_rows.append({"step": self.step, "epoch": self.epoch, **val})
        self.epochs_done = self.epoch + 1
        if self.on_epoch is not None:
            self.on_epoch(self.epochs_done, logs or {})

    def _apply(self, pending: dict) -> None:
        model = self.model  # on JAX this syncs the trainer's state so the assignment sticks
        if "lr" in pending:
            if not learning_rate_is_tunable(model.optimizer):
                raise ValueError(f"Cannot change the learning rate: {SCHEDULE_NOTE}")
            model.optimizer.learning_rate = pending["lr"]
        if "dropout" in pending:
            layers = tunable_dropout_layers(model)
            if not layers:
                raise ValueError("Cannot change dropout: the model has no TunableDropout layer "
                                 "(convert it with cnnlab.layers.make_dropout_tunable).")
            for layer in layers:
                layer.set_rate(pending["dropout"])
        for name, value in pending.items():
            if value != self.values[name]:
                change = {"step": self.step, "name": name, "old": self.values[name], "new": value,
                          **{**self.values, name: value}}
                with self._lock:
                    self._applying.append(change)
                self.values[name] = value

    # --- results ---------------------------------------------------------------------------
    def record(self) -> pd.DataFrame:
        """Return one row per recorded batch (``step`` counts from 0): epoch, loss and metrics, lr, dropout."""
        with self._lock:
            rows = [self.rows[k] for k in sorted(self.rows)]
        frame = pd.DataFrame(rows, columns=_columns(rows))
        return _add_batch_values(frame)

    def rows_from(self, step: int) -> list[dict]:
        """Return the recorded rows from ``step`` on, in order, up to the first one not arrived yet."""
        out = []
        with self._lock:
            while step in self.rows:
                row = self.rows[step]
                out.append(row)
                step += row["batches"]
        return out

    def change_log(self) -> pd.DataFrame:
        """Return the applied changes: columns step (the first batch that used it), name ('lr' or 'dropout'), old, new."""
        with self._lock:
            changes = [c for c in self.changes if c["name"] != "start"]
        return pd.DataFrame(changes, columns=["step", "name", "old", "new"])

    def schedule(self) -> list[tuple[int, float, float]]:
        """Return ``(step, lr, dropout)`` for the start and every change: the values from that step on."""
        with self._lock:
            return [(c["step"], c["lr"], c["dropout"]) for c in self.changes]


def _columns(rows) -> list[str]:
    names = ["step", "epoch", "batches", "lr", "dropout"]
    for row in rows:
        names += [k for k in row if k not in names]
    return names


def _add_batch_values(frame: pd.DataFrame) -> pd.DataFrame:
    """Add ``batch_<metric>`` columns: the value on each batch, undone from Keras' running mean.

    Keras reports a metric averaged over the epoch so far; with equal batches the value of
    batch k is ``k * mean_k - (k - 1) * mean_(k-1)``. The last, smaller batch of an epoch is
    weighted like the others, a small error that the plots smooth away.
    """
    metrics = [c for c in frame.columns if c not in ("step", "epoch", "batches", "lr", "dropout")]
    for name in metrics:
        values = np.empty(len(frame))
        for _, idx in frame.groupby("epoch").groups.items():
            part = frame.loc[idx]
            seen = part["batches"].cumsum().to_numpy(float)
            total = part[name].to_numpy(float) * seen
            values[frame.index.get_indexer(idx)] = np.diff(total, prepend=0.0) / part["batches"].to_numpy(float)
        frame["batch_" + name] = values
    return frame


def current_learning_rate(optimizer) -> float:
    """Return the optimizer's learning rate now, as a float (a schedule is evaluated at the current step)."""
    # float32 0.01 reads back as 0.009999999776; 7 digits is what float32 holds
    return float(f"{float(keras.ops.convert_to_numpy(optimizer.learning_rate)):.7g}")


class Replay(keras.callbacks.Callback):
    """Keras callback that re-applies a recorded schedule of lr and dropout changes at the same steps.

    ``schedule`` is a list of ``(step, lr, dropout)``: from batch ``step`` on (counting from 0
    over the whole training, all epochs), the optimizer uses ``lr`` and every
    :class:`~cnnlab.layers.TunableDropout` uses ``dropout`` (``nan`` leaves it alone).
    Train with the same batch size as the recorded session.
    """

    def __init__(self, schedule):
        super().__init__()
        self.schedule = sorted((int(s), float(lr), float(d)) for s, lr, d in schedule)
        self._seen = 0
        self._epoch_start = 0
        self._next = 0

    def on_train_begin(self, logs=None):
        self._seen = self._next = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = self._seen

    def on_train_batch_begin(self, batch, logs=None):
        step = self._epoch_start + batch  # with steps_per_execution, the chunk's first batch
        due = None
        while self._next < len(self.schedule) and self.schedule[self._next][0] <= step:
            due = self.schedule[self._next]
            self._next += 1
        if due is not None:
            model = self.model  # JAX: sync the trainer's state before assigning
            _, lr, dropout = due
            if not np.isnan(lr) and learning_rate_is_tunable(model.optimizer):
                model.optimizer.learning_rate = lr
            if not np.isnan(dropout):
                for layer in tunable_dropout_layers(model):
                    layer.set_rate(dropout)

    def on_train_batch_end(self, batch, logs=None):
        self._seen = self._epoch_start + chunk_last_batch(self, batch, batch) + 1


def learning_rate_schedule(schedule) -> keras.optimizers.schedules.PiecewiseConstantDecay:
    """Return a Keras schedule giving the recorded learning rate at each optimizer step.

    >>> s = learning_rate_schedule([(0, 0.1, 0.5), (3, 0.01, 0.5)])
    >>> [round(float(s(i)), 3) for i in range(5)]
    [0.1, 0.1, 0.1, 0.01, 0.01]
    """
    points = sorted((int(s), float(lr)) for s, lr, _ in schedule)
    boundaries = [s - 1 for s, _ in points[1:]]  # the optimizer counts steps done, from 0
    values = [lr for _, lr in points]
    if not boundaries:
        return keras.optimizers.schedules.PiecewiseConstantDecay([0], values * 2)
    return keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values)


def wait_for(predicate, timeout: float, poll: float = 0.02) -> bool:
    """Return True once ``predicate()`` holds, False if ``timeout`` seconds pass first."""
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            return False
        time.sleep(poll)
    return True
