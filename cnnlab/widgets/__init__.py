"""Widgets for the course: the live training panel, the 2-D playground, the convolution explorer.

``train`` shows a panel that trains a compiled Keras model while its learning rate and
dropout are tuned with sliders (see :mod:`cnnlab.widgets.panel`); ``playground`` trains a
small network on a 2-D task and redraws its decision boundary (lessons 01 and 03);
``conv_explorer`` shows how kernel size, stride, padding and dilation shape a convolution.
"""

from cnnlab.widgets.live import LiveControls, Replay, learning_rate_schedule
from cnnlab.widgets.panel import TrainingPanel, train
from cnnlab.widgets.playground import Playground, playground

try:
    # Bound here, after the submodule import, so the name means the function, not the module.
    from cnnlab.widgets.conv_explorer import conv_explorer
except ImportError:  # the explorer is optional; __getattr__ reports why it is missing
    pass

__all__ = ["LiveControls", "Playground", "Replay", "TrainingPanel", "conv_explorer",
           "learning_rate_schedule", "playground", "train"]


def __getattr__(name):
    if name == "conv_explorer":
        try:
            from cnnlab.widgets.conv_explorer import conv_explorer as explorer
        except ImportError as error:
            raise AttributeError(f"cnnlab.widgets.conv_explorer is not available: {error}") from error
        return explorer
    raise AttributeError(f"module 'cnnlab.widgets' has no attribute {name!r}")
