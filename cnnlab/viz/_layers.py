"""Finding layers inside a model (nested models included) and reading their activations.

Public Keras API only (``model.layers``, ``model.inputs``, ``layer.input``, ``layer.output``),
so Sequential, Functional and nested models work the same way on every backend.
"""

from __future__ import annotations

from cnnlab.runtime import import_keras_quietly

# Quietly, as in cnnlab.setup: importing cnnlab.viz may be what first loads the backend.
keras = import_keras_quietly()

CONV_TYPES = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.SeparableConv2D)
POOL_TYPES = (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)


def walk(model):
    """Yield ``(layer, owner)`` for every layer in ``model``, depth first, nested models included."""
    for layer in model.layers:
        yield layer, model
        if isinstance(layer, keras.Model):
            yield from walk(layer)


def variable_values(variable):
    """Return a Keras variable's values as a NumPy array, on every backend."""
    # Copy to a plain tensor first: NumPy 2 warns when it converts a TensorFlow variable (or,
    # on JAX, a KerasVariable) directly, because their __array__ takes no `copy` argument.
    return keras.ops.convert_to_numpy(keras.ops.copy(variable))


def is_conv(layer) -> bool:
    """Return True for a 2-D convolution layer (plain, depthwise or separable)."""
    return isinstance(layer, CONV_TYPES)


def is_pool(layer) -> bool:
    """Return True for a 2-D max or average pooling layer (not a global one)."""
    return isinstance(layer, POOL_TYPES)


def describe(layers) -> str:
    """Return layer names with their types, for error messages."""
    return ", ".join(f"{layer.name!r} ({type(layer).__name__})" for layer in layers) or "none"


def find_layer(model, layer):
    """Return the layer named ``layer``, at index ``layer`` of ``model.layers``, or ``layer`` itself."""
    if isinstance(layer, keras.layers.Layer):
        if any(candidate is layer for candidate, _ in walk(model)):
            return layer
        raise ValueError(f"Layer {layer.name!r} is not part of model {model.name!r}.")
    if isinstance(layer, int):
        if not -len(model.layers) <= layer < len(model.layers):
            raise IndexError(
                f"Layer index {layer} is out of range: model {model.name!r} has "
                f"{len(model.layers)} layers (0 to {len(model.layers) - 1}). "
                f"Its layers are: {describe(model.layers)}."
            )
        return model.layers[layer]
    for candidate, _ in walk(model):
        if candidate.name == layer:
            return candidate
    names = [candidate.name for candidate, _ in walk(model)]
    raise ValueError(f"Model {model.name!r} has no layer named {layer!r}. Its layers are: {names}.")


def check_built(model) -> None:
    """Raise a helpful error if ``model`` has no symbolic inputs to trace activations from."""
    try:
        model.inputs
    except (AttributeError, ValueError):
        inputs = None
    else:
        inputs = model.inputs
    if not inputs:
        raise ValueError(
            f"Model {model.name!r} has no defined input yet. Start it with keras.Input(shape=...) "
            f"(or call model.build((None, height, width, channels))) and try again."
        )


def activation_function(model, layers):
    """Return a function mapping an input batch to ``{layer.name: activation}`` for ``layers``.

    Layers of a nested model are reached by running the outer model up to the nested
    model's input, then the nested model's own extractor; the function is made of ordinary
    model calls, so backends can differentiate through it.
    """
    check_built(model)
    wanted = {id(layer) for layer in layers}
    direct = [layer for layer in model.layers if id(layer) in wanted]
    nested = []
    for sub in model.layers:
        if isinstance(sub, keras.Model):
            inside = [layer for layer, _ in walk(sub) if id(layer) in wanted]
            if inside:
                nested.append((sub, activation_function(sub, inside)))
    # Functional overrides `input` to return its own Input; the base property gives the
    # tensor the nested model was called on in this graph.
    outputs = [layer.output for layer in direct] + [keras.Operation.input.fget(sub) for sub, _ in nested]
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    extractor = keras.Model(inputs, outputs) if outputs else None

    def run(x):
        values = extractor(x, training=False) if extractor is not None else []
        if not isinstance(values, (list, tuple)):
            values = [values]
        result = {layer.name: value for layer, value in zip(direct, values)}
        for (sub, inner), sub_input in zip(nested, values[len(direct):]):
            result.update(inner(sub_input))
        return result

    return run
