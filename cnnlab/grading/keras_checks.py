"""Compare a learner's Keras model with a spec and point at the first mismatch.

A spec is a list with one dict per layer of ``model.layers``; ``"type"`` is the class name and
every other key is compared only when given. Nothing here trains or even calls the model.
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


def layer_mismatch(layer, spec: dict, position: int) -> str | None:
    """Return how one layer differs from its spec entry, or None when it matches."""
    unknown = set(spec) - SPEC_KEYS
    if unknown:
        raise ValueError(
            f"spec for layer {position} has unknown keys {sorted(unknown)}; "
            f"use only {sorted(SPEC_KEYS)}"
        )
    kind = type(layer).__name__
    where = f"layer {position} ({kind})"
    if kind != spec["type"]:
        return f"layer {position} is a {kind}, the spec asks for a {spec['type']}"
    config = layer.get_config()
    for key, config_key in _CONFIG_KEYS.items():
        if key in spec and not _same(config.get(config_key), spec[key]):
            return (f"{where}: {key} is {_normalise(config.get(config_key))!r}, "
                    f"the spec asks for {_normalise(spec[key])!r}")
    if "output_shape" in spec:
        shape = _output_shape(layer)
        if shape is None:
            return f"{where} has no output shape yet: start the model with keras.Input(shape=...)"
        if shape != tuple(spec["output_shape"]):
            return f"{where}: output shape is {shape}, the spec asks for {tuple(spec['output_shape'])}"
    if "params" in spec and layer_params(layer) != spec["params"]:
        return f"{where}: has {layer_params(layer)} parameters, the spec asks for {spec['params']}"
    return None


def model_mismatch(model, spec: list[dict], *, input_shape=None, total_params=None) -> str | None:
    """Return the first way a Keras model differs from ``spec`` (length, then layer by layer), or None."""
    import keras

    if not isinstance(model, keras.Model):
        return (f"expected a keras.Model (for example keras.Sequential([...])), "
                f"got {type(model).__name__}; did the function return the model?")
    if input_shape is not None:
        try:
            got = tuple(model.inputs[0].shape[1:])
        except (AttributeError, IndexError, ValueError, TypeError):
            return "the model has no input yet: start it with keras.Input(shape=...)"
        if got != tuple(input_shape):
            return f"the model's input shape is {got}, expected {tuple(input_shape)} (batch size left out)"
    layers = list(model.layers)
    if len(layers) != len(spec):
        names = ", ".join(type(layer).__name__ for layer in layers) or "none"
        return f"the model has {len(layers)} layers ({names}), the spec has {len(spec)}"
    for position, (layer, wanted) in enumerate(zip(layers, spec), start=1):
        problem = layer_mismatch(layer, wanted, position)
        if problem:
            return problem
    if total_params is not None:
        total = sum(layer_params(layer) for layer in layers)
        if total != total_params:
            return f"the model has {total} parameters in all, expected {total_params}"
    return None
