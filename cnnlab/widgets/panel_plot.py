"""The training panel's live figure: an SVG built from the record, cheap enough to redraw twice a second.

A matplotlib figure costs 0.1-0.3 s of CPU to draw and encode, so within a 2% budget it could
be redrawn only every 5-15 s. Here :class:`Curves` grows the series incrementally from the
rows the training loop recorded (the per-batch values are undone from Keras' running means as
they arrive), and :func:`training_svg` writes at most ``MAX_POINTS`` points a curve as SVG
text (min/max envelopes keep spikes visible); the browser draws it. One redraw costs a few
milliseconds however long training has run.

The figure stacks loss, accuracy (if recorded), learning rate (log axis) and dropout, each on
its own axes, shares the step axis, marks every applied change with a dashed line labelled
with the new value, and keeps the legends above the axes so they never cover a curve. The
loss axis turns logarithmic when the plotted loss spans more than a decade. Elements carry
classes and ``data-*`` attributes (``svg[data-last-step]``, ``line.change[data-step]``) so
tests read the drawing without pixels.
"""

from __future__ import annotations

import html
import math

import numpy as np

MAX_POINTS = 400
WIDTH, LEFT, RIGHT, HEADER, GAP, BOTTOM = 640, 58, 14, 18, 8, 34
COLORS = {"train": "#1f77b4", "val": "#ff7f0e", "lr": "#2ca02c", "dropout": "#9467bd", "change": "#777"}
BASE_KEYS = ("step", "epoch", "batches", "lr", "dropout")


class Curves:
    """The plotted series: per-batch values undone from Keras' running means, their smoothed curve, lr and dropout."""

    def __init__(self, weight: float = 0.9):
        self.weight = weight
        self.reset()

    def reset(self) -> None:
        """Forget every point (after the record was reset)."""
        self.next_step = 0
        self.steps = np.empty(0)
        self.lr = np.empty(0)
        self.dropout = np.empty(0)
        self.values: dict[str, np.ndarray] = {}
        self.smoothed: dict[str, np.ndarray] = {}
        self._ema: dict[str, tuple[float, int]] = {}
        self._epoch = None
        self._totals: dict[str, float] = {}
        self._seen = 0

    def __len__(self) -> int:
        return len(self.steps)

    def update(self, rows) -> int:
        """Append ``rows`` (consecutive records from :attr:`next_step` on); return how many were new."""
        if not rows:
            return 0
        new = {"steps": [], "lr": [], "dropout": []}
        values: dict[str, list[float]] = {}
        smoothed: dict[str, list[float]] = {}
        for row in rows:
            if row["epoch"] != self._epoch:  # Keras restarts its running means each epoch
                self._epoch, self._totals, self._seen = row["epoch"], {}, 0
            batches = row["batches"]
            self._seen += batches
            for name, mean in row.items():
                if name in BASE_KEYS:
                    continue
                total = mean * self._seen
                value = (total - self._totals.get(name, 0.0)) / batches
                self._totals[name] = total
                values.setdefault(name, []).append(value)
                avg, count = self._ema.get(name, (0.0, 0))
                if math.isfinite(value):
                    avg, count = self.weight * avg + (1 - self.weight) * value, count + 1
                    self._ema[name] = (avg, count)
                smoothed.setdefault(name, []).append(avg / (1 - self.weight ** count) if count else math.nan)
            new["steps"].append(row["step"])
            new["lr"].append(row["lr"])
            new["dropout"].append(row["dropout"])
            self.next_step = row["step"] + batches
        # One concatenation per redraw, not per point: drawing then needs no list conversion.
        for name in ("steps", "lr", "dropout"):
            setattr(self, name, np.concatenate([getattr(self, name), np.asarray(new[name], float)]))
        for store, fresh in ((self.values, values), (self.smoothed, smoothed)):
            for name, items in fresh.items():
                store[name] = np.concatenate([store.get(name, np.empty(0)), np.asarray(items, float)])
        return len(rows)

    def last(self, name: str) -> float | None:
        """Return the latest smoothed value of ``name`` (e.g. 'loss'), or None before the first batch."""
        values = self.smoothed.get(name)
        return float(values[-1]) if values is not None and len(values) else None


def accuracy_name(curves: Curves) -> str | None:
    """Return the recorded accuracy metric's name ('accuracy' or 'acc'), or None."""
    return next((n for n in ("accuracy", "acc") if n in curves.values), None)


def training_svg(curves: Curves, val_rows: list[dict], changes: list[dict], total_steps: int | None) -> str:
    """Return the figure as an SVG document: loss, accuracy, lr and dropout over the training steps."""
    acc = accuracy_name(curves)
    panels = [("loss", 190)] + ([(acc, 130)] if acc else []) + [("lr", 64), ("dropout", 64)]
    height = sum(HEADER + h + GAP for _, h in panels) + BOTTOM
    steps = curves.steps
    last = int(curves.next_step)
    x_max = float(max(total_steps or 0, last, 1))
    scale_x = (WIDTH - LEFT - RIGHT) / x_max
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="cnnlab-plot" width="{WIDTH}" '
             f'height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" '
             f'font-size="11" data-last-step="{last}" data-changes="{len(changes)}">',
             f'<rect width="{WIDTH}" height="{height}" fill="white"/>']
    top = 0
    frames = []
    for name, h in panels:
        y0, y1 = top + HEADER, top + HEADER + h
        frames.append((name, y0, y1))
        if name in ("lr", "dropout"):
            values = getattr(curves, name)
            parts += _trace_panel(name, steps, values, changes, y0, y1, scale_x)
        else:
            parts += _metric_panel(name, curves, steps, val_rows, y0, y1, scale_x)
        top = y1 + GAP
    for change in changes:  # dashed through every panel, at the first step that used it
        x = LEFT + change["step"] * scale_x
        for _, y0, y1 in frames:
            parts.append(f'<line class="change" data-step="{change["step"]}" data-name="{change["name"]}"'
                         f' x1="{x:.1f}" x2="{x:.1f}" y1="{y0}" y2="{y1}" stroke="{COLORS["change"]}"'
                         ' stroke-dasharray="3,3"/>')
    bottom = frames[-1][2]
    for tick in _linear_ticks(0, x_max):
        x = LEFT + tick * scale_x
        parts.append(f'<text x="{x:.1f}" y="{bottom + 14}" text-anchor="middle">{_fmt(tick)}</text>')
    parts.append(f'<text x="{LEFT + (WIDTH - LEFT - RIGHT) / 2}" y="{bottom + 29}" '
                 'text-anchor="middle">training step (batch)</text>')
    parts.append("</svg>")
    return "".join(parts)


def placeholder_svg(text: str = "The curves appear after the first batches.") -> str:
    """Return the figure's frame before anything was recorded (no broken image while tracing)."""
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="cnnlab-plot" width="{WIDTH}" height="120" '
            'font-family="sans-serif" font-size="12" data-last-step="0" data-changes="0">'
            f'<rect x="{LEFT}" y="10" width="{WIDTH - LEFT - RIGHT}" height="100" fill="white" '
            f'stroke="#ccc"/><text x="{WIDTH / 2}" y="64" text-anchor="middle" fill="#666">'
            f'{html.escape(text)}</text></svg>')


def _metric_panel(name, curves, steps, val_rows, y0, y1, scale_x) -> list[str]:
    raw = curves.values.get(name, np.empty(0))
    smooth = curves.smoothed.get(name, np.empty(0))
    val_steps = np.asarray([r["step"] for r in val_rows if "val_" + name in r], float)
    val = np.asarray([r["val_" + name] for r in val_rows if "val_" + name in r], float)
    finite = np.concatenate([raw[np.isfinite(raw)], val[np.isfinite(val)]])
    log = name == "loss" and finite.size > 1 and finite.min() > 0 and finite.max() > 10 * finite.min()
    scale = _Scale(finite, y0, y1, log)
    parts = [f'<g class="panel" data-name="{name}" data-yscale="{"log" if log else "linear"}">']
    parts += scale.grid_and_labels(name)
    if raw.size:
        parts.append(_envelope(steps, raw, scale, scale_x, COLORS["train"]))
        parts.append(_polyline(steps, smooth, scale, scale_x, COLORS["train"], "train-smooth", 1.6))
    if val.size:
        parts.append(_polyline(val_steps, val, scale, scale_x, COLORS["val"], "val", 1.4))
        for s, v in zip(val_steps, val):
            if np.isfinite(v) and len(val) <= 60:  # a dot per epoch while they can be told apart
                parts.append(f'<circle class="val-point" cx="{LEFT + s * scale_x:.1f}" '
                             f'cy="{scale(v):.1f}" r="3" fill="{COLORS["val"]}"/>')
    legend = [(COLORS["train"], f"train {name} (smoothed; band: per batch)")]
    if val.size:
        legend.append((COLORS["val"], f"validation {name} (per epoch)"))
    parts += _legend(legend, y0)
    parts.append("</g>")
    return parts


def _trace_panel(name, steps, values, changes, y0, y1, scale_x) -> list[str]:
    finite = values[np.isfinite(values)]
    if name == "lr":
        log = finite.size > 0 and finite.min() > 0  # a rate of 0 cannot sit on a log axis
        scale = _Scale(finite, y0, y1, log=log)
        label = "learning rate"
    else:
        scale = _Scale(finite, y0, y1, log=False, fixed=(-0.04, 0.94))  # the slider's range
        label = "dropout"
    parts = [f'<g class="panel" data-name="{name}" data-yscale="{"log" if scale.log else "linear"}">']
    parts += scale.grid_and_labels(label if name == "lr" else "dropout", ticks=3)
    if finite.size:
        keep = np.flatnonzero(np.r_[True, np.diff(values) != 0])  # where the value changes
        points, previous = [], None
        for x, y in zip(steps[keep], values[keep]):
            px, py = LEFT + x * scale_x, scale(y)
            if previous is not None:
                points.append(f"{px:.1f},{previous:.1f}")
            points.append(f"{px:.1f},{py:.1f}")
            previous = py
        points.append(f"{LEFT + (steps[-1] + 1) * scale_x:.1f},{previous:.1f}")
        parts.append(f'<polyline class="trace" fill="none" stroke="{COLORS[name]}" stroke-width="1.6" '
                     f'points="{" ".join(points)}"/>')
    for change in changes:
        if change["name"] == name:
            x = LEFT + change["step"] * scale_x
            parts.append(f'<text class="change-label" x="{x + 3:.1f}" y="{y0 + 11}" '
                         f'fill="{COLORS["change"]}">{_fmt(change["new"])}</text>')
    parts += _legend([(COLORS[name], label)], y0)
    parts.append("</g>")
    return parts


class _Scale:
    """Maps values to pixel rows of one panel, on a linear or log axis with round ticks."""

    def __init__(self, values, y0, y1, log, fixed=None):
        self.y0, self.y1, self.log = y0, y1, log
        if fixed is not None:
            low, high = fixed
        elif values.size:
            low, high = float(values.min()), float(values.max())
        else:
            low, high = (0.1, 1.0) if log else (0.0, 1.0)
        if log:
            low, high = math.log10(low), math.log10(high)
        if high - low < 1e-12:
            pad = 0.5 if log else max(abs(low) * 0.1, 0.05)
            low, high = low - pad, high + pad
        elif fixed is None:
            pad = (high - low) * 0.06
            low, high = low - pad, high + pad
        self.low, self.high = low, high

    def __call__(self, value):
        """Return the pixel row of ``value`` (a number or an array)."""
        v = np.log10(value) if self.log else np.asarray(value, float)
        return self.y1 - (v - self.low) / (self.high - self.low) * (self.y1 - self.y0)

    def grid_and_labels(self, label: str, ticks: int = 5) -> list[str]:
        parts = [f'<rect x="{LEFT}" y="{self.y0}" width="{WIDTH - LEFT - RIGHT}" '
                 f'height="{self.y1 - self.y0}" fill="none" stroke="#bbb"/>']
        if self.log:
            values = _log_ticks(self.low, self.high)
        else:
            values = _linear_ticks(self.low, self.high, ticks)
        for value in values:
            y = self(value)
            parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>'
                         f'<text class="tick" x="{LEFT - 4}" y="{y + 4:.1f}" text-anchor="end">'
                         f'{_fmt(value)}</text>')
        mid = (self.y0 + self.y1) / 2
        parts.append(f'<text x="11" y="{mid:.1f}" transform="rotate(-90 11 {mid:.1f})" '
                     f'text-anchor="middle">{html.escape(label)}</text>')
        return parts


def _linear_ticks(low: float, high: float, count: int = 6) -> list[float]:
    span = high - low
    raw = span / max(count, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step) * step
    return [round(first + i * step, 12) for i in range(int((high - first) / step + 1e-9) + 1)]


def _log_ticks(low: float, high: float) -> list[float]:
    """Decades inside [10**low, 10**high], with 2 and 5 between them when fewer than three fit."""
    decades = range(math.floor(low), math.ceil(high) + 1)
    mults = (1,) if high - low >= 2 else (1, 2, 5)
    ticks = [m * 10.0 ** d for d in decades for m in mults]
    return [t for t in ticks if low <= math.log10(t) <= high]


def _polyline(xs, ys, scale, scale_x, color, cls, width) -> str:
    ok = np.isfinite(ys)
    xs, ys = xs[ok], ys[ok]
    if len(xs) > MAX_POINTS:
        keep = np.linspace(0, len(xs) - 1, MAX_POINTS).astype(int)
        xs, ys = xs[keep], ys[keep]
    return (f'<polyline class="{cls}" fill="none" stroke="{color}" stroke-width="{width}" '
            f'points="{_points(LEFT + xs * scale_x, scale(ys))}"/>')


def _envelope(xs, ys, scale, scale_x, color) -> str:
    """The per-batch values as a band from each bucket's minimum to its maximum (a line when few)."""
    ok = np.isfinite(ys)
    xs, ys = xs[ok], ys[ok]
    if len(xs) <= MAX_POINTS:
        return _polyline(xs, ys, scale, scale_x, color, "train-raw", 0.8).replace(
            "<polyline", '<polyline opacity="0.3"', 1)
    starts = np.linspace(0, len(xs), MAX_POINTS // 2, endpoint=False).astype(int)
    low, high = np.minimum.reduceat(ys, starts), np.maximum.reduceat(ys, starts)
    bx = LEFT + xs[starts] * scale_x
    return (f'<polygon class="train-raw" fill="{color}" opacity="0.25" stroke="none" '
            f'points="{_points(np.r_[bx, bx[::-1]], scale(np.r_[high, low[::-1]]))}"/>')


def _points(px, py) -> str:
    """Return SVG points "x,y x,y ..." with a tenth of a pixel, formatted in one go."""
    pairs = np.column_stack([px, py]).ravel().tolist()
    return ("%.1f,%.1f " * len(px) % tuple(pairs)).rstrip()


def _legend(items, y0) -> list[str]:
    parts, x = [], LEFT
    for color, text in items:
        parts.append(f'<line x1="{x}" x2="{x + 16}" y1="{y0 - 6}" y2="{y0 - 6}" stroke="{color}" '
                     f'stroke-width="2"/><text class="legend" x="{x + 20}" y="{y0 - 2}">'
                     f'{html.escape(text)}</text>')
        x += 28 + 6 * len(text)
    return parts


def _fmt(value: float) -> str:
    return f"{value:.3g}"
