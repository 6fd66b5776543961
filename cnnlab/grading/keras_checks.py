"""Compare a learner's Keras model with a spec and point at the first mismatch.

A spec is a list with one dict per layer of ``model.layers``; ``"type"`` is the class name and
every other key is compared only when given. Nothing here trains or even calls the model.
The comparison works on a plain description (:func:`describe_model`), so the grader can make it
outside the kernel that built the model.
"""

from __future__ import annotations

# Spec key -> the get_config() entry it is read from.
_CONFIG_KEYS = {
    "units": "units",
    "filters": "filters",
    "kernel_size": "kernel_size",
    "strides": "strides",
    "padding": "padding",
    "activation": "activation",
    "pool_size": "pool_size",
    "rate": "rate",
    "use_bias": "use_bias",
}
SPEC_KEYS = {"type", "output_shape", "params", *_CONFIG_KEYS}


def _normalise(value):
    """Return value with lists as tuples and ints where Keras may store either (e.g. (3, 3) vs 3)."""
    if isinstance(value, list):
        return tuple(_normalise(v) for v in value)
    if isinstance(value, dict) and "class_name" in value:  # a serialised activation object
        return value.get("config", {}).get("name", value["class_name"])
    return value


def _same(actual, wanted) -> bool:
    """Return True when a layer setting matches the spec, allowing 3 to mean (3, 3)."""
    actual, wanted = _normalise(actual), _normalise(wanted)
    if isinstance(actual, tuple) and isinstance(wanted, int):
        return all(a == wanted for a in actual)
    if isinstance(actual, float) or isinstance(wanted, float):
        try:
            return abs(float(actual) - float(wanted)) <= 1e-9
        except (TypeError, ValueError):
            return False
    return actual == wanted


def layer_params(layer) -> int:
    """Return the number of weights (trainable or not) a built layer holds."""
    total = 0
    for weight in layer.weights:
        count = 1
        for dim in weight.shape:
            count *= int(dim)
        total += count
    return total


def _output_shape(layer):
    """Return the layer's symbolic output shape as a tuple, or None when the model has no input."""
    try:
        return tuple(layer.output.shape)
    except (AttributeError, ValueError):
        return None


def _setting(value):
    """Return a layer setting as plain data: numbers, strings, tuples; anything else as its repr."""
    value = _normalise(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, tuple) and all(v is None or isinstance(v, (bool, int, float, str)) for v in value):
        return value
    return repr(value)


def describe_model(model) -> dict:
    """Return a plain description of a Keras model: class, input shape, and per layer its type,
    the settings a spec can name, its output shape and its parameter count."""
    import keras

    if not isinstance(model, keras.Model):
        return {"model": False, "class": type(model).__name__}
    try:
        input_shape = tuple(model.inputs[0].shape[1:])
    except (AttributeError, IndexError, ValueError, TypeError):
        input_shape = None
    layers = []
    for layer in model.layers:
        try:
            config = layer.get_config()
        except Exception:  # a learner's custom layer may not serialise
            config = {}
        layers.append({"type": type(layer).__name__, "output_shape": _output_shape(layer),
                       "params": layer_params(layer),
                       "settings": {key: _setting(config.get(name)) for key, name in _CONFIG_KEYS.items()
                                    if name in config}})
    return {"model": True, "class": type(model).__name__, "input_shape": input_shape, "layers": layers}


def layer_mismatch(layer: dict, spec: dict, position: int) -> str | None:
    """Return how one described layer differs from its spec entry, or None when it matches."""
    unknown = set(spec) - SPEC_KEYS
    if unknown:
        raise ValueError(
            f"spec for layer {position} has unknown keys {sorted(unknown)}; "
            f"use only {sorted(SPEC_KEYS)}"
        )
    kind = layer["type"]
    where = f"layer {position} ({kind})"
    if kind != spec["type"]:
        return f"layer {position} is a {kind}, the spec asks for a {spec['type']}"
    settings = layer.get("settings", {})
    for key in _CONFIG_KEYS:
        if key in spec and not _same(settings.get(key), spec[key]):
            return (f"{where}: {key} is {_normalise(settings.get(key))!r}, "
                    f"the spec asks for {_normalise(spec[key])!r}")
    if "output_shape" in spec:
        shape = layer.get("output_shape")
        if shape is None:
            return f"{where} has no output shape yet: start the model with keras.Input(shape=...)"
        if tuple(shape) != tuple(spec["output_shape"]):
            return f"{where}: output shape is {tuple(shape)}, the spec asks for {tuple(spec['output_shape'])}"
    if "params" in spec and layer["params"] != spec["params"]:
        return f"{where}: has {layer['params']} parameters, the spec asks for {spec['params']}"
    return None


def description_mismatch(description: dict, spec: list[dict], *, input_shape=None,
                         total_params=None) -> str | None:
    """Return the first way a described model (:func:`describe_model`) differs from ``spec``."""
    if not description.get("model"):
        return (f"expected a keras.Model (for example keras.Sequential([...])), "
                f"got {description.get('class', 'something else')}; did the function return the model?")
    if input_shape is not None:
        got = description.get("input_shape")
        if got is None:
            return "the model has no input yet: start it with keras.Input(shape=...)"
        if tuple(got) != tuple(input_shape):
            return f"the model's input shape is {tuple(got)}, expected {tuple(input_shape)} (batch size left out)"
    layers = list(description.get("layers", []))
    if len(layers) != len(spec):
        names = ", ".join(layer["type"] for layer in layers) or "none"
        return f"the model has {len(layers)} layers ({names}), the spec has {len(spec)}"
    for position, (layer, wanted) in enumerate(zip(layers, spec), start=1):
        problem = layer_mismatch(layer, wanted, position)
        if problem:
            return problem
    if total_params is not None:
        total = sum(layer["params"] for layer in layers)
        if total != total_params:
            return f"the model has {total} parameters in all, expected {total_params}"
    return None


def model_mismatch(model, spec: list[dict], *, input_shape=None, total_params=None) -> str | None:
    """Return the first way a Keras model differs from ``spec`` (length, then layer by layer), or None."""
    return description_mismatch(describe_model(model), spec, input_shape=input_shape,
                                total_params=total_params)
