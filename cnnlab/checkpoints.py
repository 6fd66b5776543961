"""Checkpoints that survive a disconnect: saved atomically every epoch, resumed exactly.

A Colab runtime can vanish in the middle of an epoch, and so can the file being written at
that moment. :class:`AtomicCheckpoint` writes the whole model (weights, optimizer state,
compile settings) to a temporary file in the checkpoint folder and then renames it over the
previous checkpoint (``os.replace``, atomic on one file system), so the folder always holds one
complete checkpoint: the old one or the new one, never half of each. :func:`load_checkpoint`
gives back the model and the number of epochs it has finished; training resumes with
``model.fit(..., initial_epoch=epochs_done)``.

>>> import tempfile, keras, numpy as np
>>> folder = tempfile.mkdtemp()
>>> load_checkpoint(folder)  # nothing saved yet
(None, 0)
>>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
>>> model.compile("sgd", "mse")
>>> save_checkpoint(model, folder, epochs_done=3)
>>> restored, done = load_checkpoint(folder)
>>> done, restored.count_params()
(3, 3)
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import keras

__all__ = ["AtomicCheckpoint", "SimulatedDisconnect", "DisconnectAt", "save_checkpoint", "load_checkpoint"]

MODEL_FILE = "checkpoint.keras"
STATE_FILE = "checkpoint.json"


def _replace_atomically(folder: Path, name: str, write) -> None:
    """Call ``write(temporary_path)`` and rename the result to ``folder/name`` in one step."""
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=Path(name).suffix)
    os.close(handle)
    try:
        write(temporary)
        os.replace(temporary, folder / name)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def save_checkpoint(model, folder, epochs_done: int) -> None:
    """Save ``model`` (with its optimizer state) and ``epochs_done`` to ``folder``, atomically."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    _replace_atomically(folder, MODEL_FILE, model.save)
    # The epoch count is written after the model it describes: a crash between the two leaves
    # a newer model with an older count, which redoes an epoch rather than skipping one.
    _replace_atomically(folder, STATE_FILE,
                        lambda path: Path(path).write_text(json.dumps({"epochs_done": int(epochs_done)})))


def load_checkpoint(folder):
    """Return ``(model, epochs_done)`` from ``folder``, or ``(None, 0)`` when it holds no checkpoint."""
    folder = Path(folder)
    if not (folder / MODEL_FILE).exists() or not (folder / STATE_FILE).exists():
        return None, 0
    epochs_done = json.loads((folder / STATE_FILE).read_text())["epochs_done"]
    return keras.models.load_model(folder / MODEL_FILE), epochs_done


class AtomicCheckpoint(keras.callbacks.Callback):
    """Save the model to ``folder`` at the end of every epoch (see :func:`save_checkpoint`)."""

    def __init__(self, folder):
        super().__init__()
        self.folder = Path(folder)

    def on_epoch_end(self, epoch, logs=None):
        save_checkpoint(self.model, self.folder, epochs_done=epoch + 1)


class SimulatedDisconnect(RuntimeError):
    """Raised by :class:`DisconnectAt` to stand for a runtime that went away."""


class DisconnectAt(keras.callbacks.Callback):
    """Stop training with :class:`SimulatedDisconnect` when epoch ``epoch`` (0-based) begins."""

    def __init__(self, epoch: int):
        super().__init__()
        if int(epoch) < 0:
            raise ValueError(f"DisconnectAt needs an epoch >= 0 (0 is the first), got {epoch}.")
        self.epoch = int(epoch)

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise SimulatedDisconnect(f"simulated disconnect at the start of epoch {epoch} "
                                      f"({epoch} epochs finished)")
