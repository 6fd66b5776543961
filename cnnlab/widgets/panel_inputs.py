"""What the training panel accepts: a compiled Keras model, its data, and a notebook to show in."""

from __future__ import annotations

import math

import keras


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


def check_compiled(model) -> None:
    if not isinstance(model, keras.Model):
        raise TypeError(f"train expects a keras.Model, got {type(model).__name__}.")
    if getattr(model, "optimizer", None) is None or not getattr(model, "compiled", False):
        raise ValueError(
            "The model is not compiled, and the panel cannot guess its loss. Compile it first, "
            "e.g. model.compile(optimizer=keras.optimizers.SGD(0.01), "
            "loss='sparse_categorical_crossentropy', metrics=['accuracy']).")


def dropout_note(model) -> str:
    fixed = [l for l in model._flatten_layers(include_self=False) if type(l) is keras.layers.Dropout]
    if fixed:
        return (f"Dropout fixed: the model's {len(fixed)} keras Dropout layer(s) bake their rate into "
                "the compiled train step. Convert with cnnlab.layers.make_dropout_tunable(model) "
                "and compile the copy to tune it live.")
    return "Dropout off: the model has no dropout layer (add cnnlab.layers.TunableDropout to tune it)."


def is_arrays(data) -> bool:
    return isinstance(data, (tuple, list)) and len(data) == 2 and hasattr(data[0], "shape")


def steps_per_epoch(data, batch_size) -> int:
    if is_arrays(data):
        return math.ceil(len(data[0]) / batch_size)
    try:
        return int(len(data))
    except TypeError:
        return 0
