"""What the training panel looks like: its widgets, its progress line and its log.

The pure parts (:func:`clamp`, :func:`progress_text`) take plain numbers, so tests check them
without a front end; the figure itself is drawn by :mod:`cnnlab.widgets.panel_plot`.
"""

from __future__ import annotations

import html
import io
import math
import threading

import ipywidgets as w

from cnnlab.widgets.panel_plot import placeholder_svg


def clamp(value: float, low: float, high: float, name: str) -> tuple[float, str | None]:
    """Return ``value`` clamped to ``[low, high]`` and a message saying so, or None if it was inside.

    >>> clamp(5.0, 1e-5, 1.0, "learning rate")
    (1.0, 'learning rate 5 is outside [1e-05, 1]: using 1.')
    """
    if not isinstance(value, (int, float)) or math.isnan(value):
        return low, f"{name} {value!r} is not a number: using {low:g}."
    if low <= value <= high:
        return value, None
    bounded = min(max(value, low), high)
    return bounded, f"{name} {value:g} is outside [{low:g}, {high:g}]: using {bounded:g}."


def figure_png(fig) -> bytes:
    """Return the figure rendered as PNG bytes (for an ``ipywidgets.Image``)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80, pil_kwargs={"compress_level": 1})
    return buffer.getvalue()


class PanelView:
    """The panel's widgets; :class:`cnnlab.widgets.panel.TrainingPanel` wires them to training."""

    def __init__(self, *, lr: float, lr_range: tuple[float, float], dropout: float | None,
                 dropout_note: str | None, lr_note: str | None, epochs: int, batch_size: int | None):
        low, high = lr_range
        self.lr = w.FloatLogSlider(value=lr, base=10, min=math.log10(low), max=math.log10(high),
                                   step=0.05, description="learning rate", readout=False,
                                   continuous_update=False, layout=w.Layout(width="360px"),
                                   style={"description_width": "100px"})
        self.lr_box = w.FloatText(value=lr, layout=w.Layout(width="100px"))
        self.dropout = w.FloatSlider(value=dropout if dropout is not None else 0.0, min=0.0,
                                     max=0.9, step=0.05, description="dropout", readout=False,
                                     continuous_update=False, layout=w.Layout(width="360px"),
                                     style={"description_width": "100px"})
        self.dropout_box = w.FloatText(value=self.dropout.value, layout=w.Layout(width="100px"))
        self.epochs = w.IntText(value=epochs, description="epochs", layout=w.Layout(width="160px"))
        self.batch_size = w.IntText(value=batch_size or 0, description="batch size",
                                    layout=w.Layout(width="180px"))
        self.buttons = {name: w.Button(description=name, icon=icon, layout=w.Layout(width="130px"))
                        for name, icon in [("Train", "play"), ("Pause", "pause"),
                                           ("Resume", "step-forward"), ("Stop", "stop"),
                                           ("Reset weights", "undo")]}
        self.progress = w.IntProgress(value=0, min=0, max=1, layout=w.Layout(width="360px"))
        self.status = w.HTML("ready")
        self.plot = w.HTML(placeholder_svg(), layout=w.Layout(width="660px"))
        self.log = w.HTML("", layout=w.Layout(width="660px"))
        self.log_lines: list[str] = []
        self._log_lock = threading.Lock()
        self.error = w.HTML("")
        notes = []
        if dropout is None:
            self.dropout.disabled = self.dropout_box.disabled = True
            notes.append(dropout_note)
        if lr_note:
            self.lr.disabled = self.lr_box.disabled = True
            notes.append(f"Learning rate fixed: {lr_note}")
        if batch_size is None:
            self.batch_size.disabled = True
        self.notes = w.HTML("<br>".join(f"<i>{n}</i>" for n in notes))
        self.widget = w.VBox([
            w.HBox([self.lr, self.lr_box]), w.HBox([self.dropout, self.dropout_box]), self.notes,
            w.HBox([self.epochs, self.batch_size]), w.HBox(list(self.buttons.values())),
            w.HBox([self.progress, self.status]), self.plot, self.log, self.error,
        ])
        self.set_running(False)

    def set_running(self, running: bool, paused: bool = False) -> None:
        """Enable the buttons that make sense now."""
        b = self.buttons
        b["Train"].disabled = running
        b["Reset weights"].disabled = running
        b["Pause"].disabled = not running or paused
        b["Resume"].disabled = not running or not paused
        b["Stop"].disabled = not running
        self.epochs.disabled = running
        if self.batch_size.value:
            self.batch_size.disabled = running

    def add_log(self, line: str, keep: int = 8) -> None:
        """Append one line to the log (any thread), showing the last ``keep`` lines in full."""
        with self._log_lock:
            self.log_lines = (self.log_lines + [line])[-keep:]
            self.log.value = ("<div class='cnnlab-log' style='font-family:monospace;font-size:12px;"
                              "white-space:pre-wrap;line-height:1.35'>"
                              + "<br>".join(html.escape(x) for x in self.log_lines) + "</div>")

    @property
    def log_text(self) -> str:
        """The lines in the log, as plain text."""
        return "\n".join(self.log_lines)

    def show_error(self, text: str) -> None:
        """Show a training error's traceback in the panel."""
        import html

        self.error.value = ("<b style='color:#b00'>Training failed:</b>"
                            f"<pre style='font-size:11px'>{html.escape(text[-3000:])}</pre>")


def progress_text(done: int, total: int | None, elapsed: float, eta: float | None,
                  loss: float | None = None) -> str:
    """Return the progress line: steps done (of total, when known), the smoothed loss, elapsed time and ETA.

    >>> progress_text(50, 200, 10.0, eta=30.0, loss=0.51234)
    'step 50/200 · loss 0.512 · 10 s elapsed · ETA 30 s'
    >>> progress_text(1, 200, 9.0, eta=None)
    'step 1/200 · 9 s elapsed · ETA soon known'
    >>> progress_text(40, None, 3.0, eta=None)
    'step 40 · 3 s elapsed · ETA after the first epoch'
    """
    parts = [f"step {done}/{total}" if total else f"step {done}"]
    if loss is not None and math.isfinite(loss):
        parts.append(f"loss {loss:.3g}")
    parts.append(f"{elapsed:.0f} s elapsed")
    if eta is not None:
        parts.append(f"ETA {max(eta, 0.0):.0f} s")
    else:
        parts.append("ETA soon known" if total else "ETA after the first epoch")
    return " · ".join(parts)


def summary_text(state: str, steps: int, epochs: int, changes, pending: dict, val_rows: list[dict]) -> str:
    """Return :meth:`TrainingPanel.summary`'s lines: the state, the applied and waiting changes, validation.

    >>> import pandas as pd
    >>> print(summary_text("finished", 20, 2, pd.DataFrame([[12, "lr", 0.01, 0.1]],
    ...       columns=["step", "name", "old", "new"]), {}, [{"step": 10, "epoch": 0, "val_loss": 0.5}]))
    finished; 20 steps, 2 epoch(s) done
    changes applied: 1 (from the step shown on)
      step 12: lr 0.01 -> 0.1
    after epoch 1 (step 10): val_loss 0.5000
    """
    lines = [f"{state}; {steps} steps, {epochs} epoch(s) done",
             "changes applied: " + ("none" if changes.empty else f"{len(changes)} (from the step shown on)")]
    lines += [f"  step {r.step}: {r.name} {r.old:g} -> {r.new:g}" for r in changes.itertuples()]
    lines += [f"  requested, no batch used it yet: {name} {value:g}" for name, value in pending.items()]
    for row in val_rows:
        metrics = ", ".join(f"{k} {v:.4f}" for k, v in row.items() if k.startswith("val_"))
        lines.append(f"after epoch {row['epoch'] + 1} (step {row['step']}): {metrics}")
    return "\n".join(lines)
