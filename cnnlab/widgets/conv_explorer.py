"""Lesson 05's convolution explorer: how kernel size, stride, padding and dilation shape a conv.

Sliders set a square 2-D convolution; the widget draws the (padded) input grid with the
window of one output position and the output grid, and prints the output size, parameters
and MACs. Every setting is first checked by Keras itself (a ``Conv2D``, after a
``ZeroPadding2D`` for an integer padding), so whatever Keras rejects is rejected here with
Keras' own message and a sentence saying what to change.

The pure parts, :func:`conv_geometry` and :func:`draw_conv`, need no front end.
"""

from __future__ import annotations

import dataclasses
import io

import ipywidgets as w
import keras
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from cnnlab.conv_arithmetic import conv_macs, conv_params, output_size

__all__ = ["ConvGeometry", "conv_geometry", "draw_conv", "conv_explorer"]

PADDINGS = ["valid", "same", 1, 2, 3]


@dataclasses.dataclass(frozen=True)
class ConvGeometry:
    """A square 2-D convolution: its settings, output size, padding, parameters and MACs."""

    input_size: int
    kernel_size: int
    stride: int
    padding: str | int
    dilation: int
    in_channels: int
    filters: int
    output_size: int
    pad_before: int
    pad_after: int
    params: int
    macs: int

    def window(self, row: int, col: int) -> list[tuple[int, int]]:
        """Return the input cells (padded coordinates) the kernel reads for output ``(row, col)``."""
        if not (0 <= row < self.output_size and 0 <= col < self.output_size):
            raise ValueError(f"output position ({row}, {col}) is outside the "
                             f"{self.output_size}x{self.output_size} output.")
        taps = [i * self.dilation for i in range(self.kernel_size)]
        return [(row * self.stride + i, col * self.stride + j) for i in taps for j in taps]

    def describe(self) -> str:
        """Return the output size, parameters and MACs as three lines of text."""
        k, n, c, f = self.kernel_size, self.output_size, self.in_channels, self.filters
        return "\n".join([
            f"output: {n}x{n}x{f} (input {self.input_size}x{self.input_size}x{c}, padding "
            f"{self.padding!r}: {self.pad_before} before, {self.pad_after} after)",
            f"parameters: ({k}*{k}*{c}+1)*{f} = {self.params:,}",
            f"MACs: {n}*{n}*{f}*{k}*{k}*{c} = {self.macs:,}",
        ])


def conv_geometry(input_size: int, kernel_size: int, stride: int = 1, padding: str | int = "valid",
                  dilation: int = 1, in_channels: int = 1, filters: int = 1) -> ConvGeometry:
    """Return the :class:`ConvGeometry` of a square conv; raise ValueError where Keras does.

    >>> g = conv_geometry(7, 3, stride=2, padding="same")
    >>> g.output_size, g.pad_before, g.pad_after
    (4, 1, 1)
    """
    _keras_check(input_size, kernel_size, stride, padding, dilation, in_channels, filters)
    size = output_size(input_size, kernel_size, stride, padding, dilation)
    if padding == "same":
        span = dilation * (kernel_size - 1) + 1
        total = max((size - 1) * stride + span - input_size, 0)
        before, after = total // 2, total - total // 2  # the odd pixel goes after, as in Keras
    else:
        before = after = 0 if padding == "valid" else int(padding)
    return ConvGeometry(input_size, kernel_size, stride, padding, dilation, in_channels, filters,
                        size, before, after, conv_params(kernel_size, in_channels, filters),
                        conv_macs(size, kernel_size, in_channels, filters))


def _keras_check(input_size, kernel_size, stride, padding, dilation, in_channels, filters) -> None:
    for name, value in dict(input_size=input_size, kernel_size=kernel_size, stride=stride,
                            dilation=dilation, in_channels=in_channels, filters=filters).items():
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    if not (padding in ("valid", "same") or isinstance(padding, (int, np.integer)) and padding >= 0):
        raise ValueError(f"padding must be 'valid', 'same' or a non-negative integer, got {padding!r}.")
    shape = (None, input_size, input_size, in_channels)
    try:
        if not isinstance(padding, str):
            shape = keras.layers.ZeroPadding2D(int(padding)).compute_output_shape(shape)
        side = keras.layers.Conv2D(filters, kernel_size, strides=stride, dilation_rate=dilation,
                                   padding="same" if padding == "same" else "valid"
                                   ).compute_output_shape(shape)[1]
    except ValueError as error:
        raise ValueError(f"Keras rejects this convolution: {error}\n"
                         f"{_plain_reason(input_size, kernel_size, stride, padding, dilation)}") from None
    if side is not None and side <= 0:
        # Keras before 3.11 infers the empty shape and fails only when the layer runs.
        raise ValueError(f"Keras rejects this convolution: its output would have zero or negative "
                         f"size ({side}).\n"
                         f"{_plain_reason(input_size, kernel_size, stride, padding, dilation)}")


def _plain_reason(input_size, kernel_size, stride, padding, dilation) -> str:
    if stride > 1 and dilation > 1:
        return ("Keras' Conv2D cannot combine a stride above 1 with a dilation above 1: "
                "set one of them to 1.")
    span = dilation * (kernel_size - 1) + 1
    padded = input_size + 2 * (0 if isinstance(padding, str) else int(padding))
    return (f"The kernel spans {span} inputs but the padded input has only {padded}, so not one "
            "window fits: use a smaller kernel or dilation, more padding, or padding 'same'.")


def draw_conv(geometry: ConvGeometry, row: int = 0, col: int = 0) -> Figure:
    """Return a figure of the padded input with the window of output ``(row, col)``, and the output."""
    g = geometry
    side = g.pad_before + g.input_size + g.pad_after
    fig = Figure(figsize=(8, 4), dpi=80, layout="constrained")
    ax_in, ax_out = fig.subplots(1, 2, width_ratios=[side, max(g.output_size, 1)])
    inside = range(g.pad_before, g.pad_before + g.input_size)
    for i in range(side):
        for j in range(side):
            colour = "white" if i in inside and j in inside else "0.85"
            ax_in.add_patch(Rectangle((j, i), 1, 1, facecolor=colour, edgecolor="0.6", lw=0.5))
    window = g.window(row, col)
    for i, j in window:
        ax_in.add_patch(Rectangle((j, i), 1, 1, facecolor="tab:orange", alpha=0.8, edgecolor="0.3"))
    top, left = window[0]
    extent = window[-1][0] - top + 1
    ax_in.add_patch(Rectangle((left, top), extent, extent, fill=False, edgecolor="tab:red", lw=2))
    for i in range(g.output_size):
        for j in range(g.output_size):
            colour = "tab:orange" if (i, j) == (row, col) else "white"
            ax_out.add_patch(Rectangle((j, i), 1, 1, facecolor=colour, edgecolor="0.6", lw=0.5))
    titles = (f"input {g.input_size}x{g.input_size} (grey: padding)",
              f"output {g.output_size}x{g.output_size}")
    for ax, n, title in ((ax_in, side, titles[0]), (ax_out, g.output_size, titles[1])):
        ax.set_xlim(0, n)
        ax.set_ylim(n, 0)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(title)
    return fig


def conv_explorer(input_size: int = 7, kernel_size: int = 3, stride: int = 1, padding: str | int = "valid",
                  dilation: int = 1, in_channels: int = 3, filters: int = 8) -> w.VBox:
    """Return the explorer widget: sliders, the drawing and the output size, parameters and MACs."""
    if padding not in PADDINGS:
        raise ValueError(f"padding must be one of {PADDINGS}, got {padding!r}.")
    style = {"description_width": "90px"}
    sliders = {
        "input_size": w.IntSlider(input_size, min=1, max=16, description="input size", style=style),
        "kernel_size": w.IntSlider(kernel_size, min=1, max=7, description="kernel size", style=style),
        "stride": w.IntSlider(stride, min=1, max=4, description="stride", style=style),
        "padding": w.SelectionSlider(options=[(str(p), p) for p in PADDINGS], value=padding,
                                     description="padding", style=style),
        "dilation": w.IntSlider(dilation, min=1, max=3, description="dilation", style=style),
    }
    position = w.IntSlider(0, min=0, max=0, description="window at", style=style)
    info = w.HTML()
    plot = w.Image(format="png", layout=w.Layout(width="640px"))
    box = w.VBox([w.HBox([w.VBox(list(sliders.values())), w.VBox([position, info])]), plot])
    box.sliders, box.position, box.info, box.plot = sliders, position, info, plot

    def update(*_):
        settings = {name: s.value for name, s in sliders.items()}
        try:
            geometry = conv_geometry(**settings, in_channels=in_channels, filters=filters)
        except ValueError as error:
            info.value = f"<pre style='color:#b00'>{_escape(str(error))}</pre>"
            plot.value = b""
            box.geometry = None
            return
        with position.hold_trait_notifications():
            position.max = geometry.output_size ** 2 - 1
        row, col = divmod(min(position.value, position.max), geometry.output_size)
        info.value = f"<pre>{_escape(geometry.describe())}</pre>"
        buffer = io.BytesIO()
        draw_conv(geometry, row, col).savefig(buffer, format="png")
        plot.value = buffer.getvalue()
        box.geometry = geometry

    for s in [*sliders.values(), position]:
        s.observe(update, names="value")
    update()
    return box


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
