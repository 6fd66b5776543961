"""What the training panel looks like: its widgets and its live figure.

The pure parts (:func:`smooth`, :func:`clamp`, :func:`draw_training`) take plain numbers and
data frames, so tests check them without a front end.
"""

from __future__ import annotations

import io
import math

import ipywidgets as w
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, NullFormatter


def smooth(values, weight: float = 0.9) -> np.ndarray:
    """Return the exponential moving average of ``values``, bias-corrected like Adam's moments.

    >>> smooth([1.0, 3.0], weight=0.5).tolist()
    [1.0, 2.3333333333333335]
    """
    values = np.asarray(values, dtype=float)
    out = np.empty_like(values)
    avg = 0.0
    for i, v in enumerate(values):
        avg = weight * avg + (1 - weight) * v
        out[i] = avg / (1 - weight ** (i + 1))
    return out


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


def draw_training(fig: Figure, record: pd.DataFrame, val_rows: list[dict], changes: pd.DataFrame,
                  total_steps: int | None = None) -> Figure:
    """Return ``fig`` drawn with loss, accuracy (if recorded), and the lr and dropout traces."""
    fig.clear()
    has_acc = "batch_accuracy" in record.columns or "batch_acc" in record.columns
    ratios = [3, 3, 2] if has_acc else [3, 2]
    axes = fig.subplots(len(ratios), 1, sharex=True, gridspec_kw={"height_ratios": ratios})
    steps = record["step"].to_numpy() if len(record) else np.array([])
    every = max(1, len(record) // 400)  # ~400 points a curve: drawing time stays flat
    val = pd.DataFrame(val_rows)
    panels = [("loss", axes[0])] + ([("accuracy" if "batch_accuracy" in record.columns else "acc",
                                       axes[1])] if has_acc else [])
    for name, ax in panels:
        if len(record):
            raw = record["batch_" + name].to_numpy()
            ax.plot(steps[::every], raw[::every], color="tab:blue", alpha=0.25, lw=0.8)
            ax.plot(steps[::every], smooth(raw)[::every], color="tab:blue", lw=1.5,
                    label=f"train {name} (smoothed)")
        if len(val) and "val_" + name in val.columns:
            ax.plot(val["step"], val["val_" + name], "o-", color="tab:orange", label=f"val {name}")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="upper right", fontsize=8)
    traces = axes[-1]
    if len(record):
        traces.step(steps, record["lr"], where="post", color="tab:green", label="learning rate")
        if (record["lr"] > 0).all():
            traces.set_yscale("log")
            # Plain labels: log-scale labels are typeset as math, a third of the drawing time.
            traces.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            traces.yaxis.set_minor_formatter(NullFormatter())
        rate = traces.twinx()
        rate.step(steps, record["dropout"], where="post", color="tab:purple", label="dropout")
        rate.set_ylim(-0.02, 1.0)
        rate.set_ylabel("dropout", color="tab:purple")
    traces.set_ylabel("lr", color="tab:green")
    traces.set_xlabel("training step (batch)")
    for step in changes["step"] if len(changes) else []:
        for ax in axes:
            ax.axvline(step, color="grey", ls=":", lw=1)
    if total_steps:
        traces.set_xlim(0, total_steps)
    # A fixed layout: tight_layout costs more than the rest of the drawing together.
    fig.subplots_adjust(left=0.1, right=0.9, top=0.97, bottom=0.08, hspace=0.08)
    return fig


def figure_png(fig: Figure) -> bytes:
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
        self.plot = w.Image(format="png", layout=w.Layout(width="640px"))
        self.log = w.Textarea(value="", disabled=True, layout=w.Layout(width="640px", height="90px"))
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
        """Append one line to the change log, keeping the last ``keep`` lines."""
        lines = [x for x in self.log.value.splitlines() if x] + [line]
        self.log.value = "\n".join(lines[-keep:])

    def show_error(self, text: str) -> None:
        """Show a training error's traceback in the panel."""
        import html

        self.error.value = ("<b style='color:#b00'>Training failed:</b>"
                            f"<pre style='font-size:11px'>{html.escape(text[-3000:])}</pre>")


def eta_text(done: int, total: int, elapsed: float) -> str:
    """Return the progress line: steps done of total, elapsed time and ETA.

    >>> eta_text(50, 200, 10.0)
    'step 50/200 · 10 s elapsed · ETA 30 s'
    """
    if done <= 0:
        return f"step 0/{total}"
    left = elapsed / done * (total - done)
    return f"step {done}/{total} · {elapsed:.0f} s elapsed · ETA {left:.0f} s"
