"""Exact parameter, cost and memory counting for a Keras model, one row per layer.

>>> import keras
>>> conv = keras.layers.Conv2D(200, 5, padding="same", name="conv")
>>> table = summary(keras.Sequential([keras.Input((150, 100, 3)), conv]))
>>> row = table.loc["conv"]
>>> print(row.params, row.macs, row.formula)
15200 225000000 (5*5*3+1)*200

Conventions:

* **Parameters** are the model's weights as Keras counts them (``model.count_params()``):
  trainable and non-trainable (BatchNormalization's moving statistics, TunableDropout's rate).
  The optimizer's slot variables (Adam's two moments per weight, its step counter), which
  Keras' own ``summary()`` adds to "Total params" once the model has trained, are reported on
  their own line and never counted as the model's parameters.
* **MACs**: one multiply-add is one MAC; FLOPs = 2 x MACs; bias additions are not counted.
  MACs are for one example at inference; the rule for each layer type is written in
  :mod:`cnnlab.layer_costs`. A layer type without a rule keeps its parameters (from Keras)
  and gets unknown MACs (``<NA>``), with a warning naming the type: never a silent 0.
* **Activation memory** of a layer is the size of its output for one example, in bytes of
  its compute dtype; the input layer's row holds the input itself.
* **Training memory** (:func:`training_memory`) is an estimate of what one training step
  keeps: the weights, one gradient per trainable weight, the optimizer's slots, and every
  layer's output for the whole batch (kept for backpropagation). Frameworks also use
  workspace and free some activations early, so a measured peak differs by a modest factor.

Nested Sequential and functional models are expanded (their layers are named
``outer/inner``); a shared layer gets one row with the MACs of all its calls.
"""

from __future__ import annotations

import html
import math
import re
import warnings

import keras
import pandas as pd

from cnnlab.layer_costs import has_rule, layer_cost, weights_formula

__all__ = ["ModelSummary", "summary", "training_memory"]

COLUMNS = ["type", "output_shape", "trainable", "non_trainable", "params", "macs",
           "activation_bytes", "formula"]


class ModelSummary(pd.DataFrame):
    """A per-layer table (a pandas DataFrame, indexed by layer name) with a totals footer.

    ``totals`` is a dict: trainable, non_trainable, params, macs (of the layers whose MACs are
    known), unknown_macs (layer names), activation_bytes, unknown_activations (how many layers'
    output sizes are not fixed), weight_bytes, optimizer_params (None before training), and
    training_bytes, the training-memory estimate for batch_size, dtype and optimizer_slots.
    """

    _metadata = ["totals"]

    @property
    def _constructor(self):
        # A filtered or computed table is a plain DataFrame: the totals belong to the whole model.
        return pd.DataFrame

    def footer(self) -> str:
        """Return the totals as lines of text."""
        t = getattr(self, "totals", None)
        if not t:
            return ""
        lines = [f"Total params: {t['params']:,} ({_human(t['weight_bytes'])}): "
                 f"trainable {t['trainable']:,}, non-trainable {t['non_trainable']:,}",
                 f"MACs per example: {t['macs']:,} (FLOPs = 2 x MACs = {2 * t['macs']:,})"]
        unknown = t["unknown_macs"]
        if unknown:
            more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
            lines[-1] += f"; unknown for {', '.join(unknown[:5])}{more}"
        lines.append(f"Activation memory per example: {_human(t['activation_bytes'])}")
        if t["unknown_activations"]:
            lines[-1] += f" (sizes not fixed for {t['unknown_activations']} layers, not counted)"
        if t["optimizer_params"] is not None:
            lines.append(f"Optimizer variables: {t['optimizer_params']:,} (not model parameters)")
        lines.append(f"Training memory, batch {t['batch_size']} in {t['dtype']}: "
                     f"{_human(t['training_bytes'])} (weights, gradients, {t['optimizer_slots']} "
                     "optimizer slots, activations)")
        return "\n".join(lines)

    def __repr__(self) -> str:
        with pd.option_context("display.width", 200, "display.max_colwidth", 60,
                               "display.max_columns", None):
            table = super().__repr__()
        return f"{table}\n\n{self.footer()}".rstrip()

    def _repr_html_(self) -> str:
        return f"{super()._repr_html_()}<pre>{html.escape(self.footer())}</pre>"


def summary(model, batch_size: int = 32, dtype: str = "float32", optimizer_slots: int = 2) -> ModelSummary:
    """Return a :class:`ModelSummary`: one row per layer with parameters, MACs and memory.

    ``batch_size``, ``dtype`` and ``optimizer_slots`` only set the training-memory total
    (see :func:`training_memory`).
    """
    _check_count(batch_size=batch_size)
    _check_count(optimizer_slots=optimizer_slots, allow_zero=True)
    calls = _trace_model(_check_model(model))
    seen_weights: set[int] = set()
    rows, unknown_types, unknown_names = {}, [], []
    for name, layer, inputs, outputs in calls:
        macs, formula = _macs_and_formula(layer, inputs, outputs)
        if macs is None:
            unknown_names += [] if name in unknown_names else [name]
            if outputs and not has_rule(layer) and type(layer).__name__ not in unknown_types:
                unknown_types.append(type(layer).__name__)
        activation = _activation_bytes(outputs)
        if name in rows:  # a shared layer: one row, the cost of every call
            row = rows[name]
            row["macs"] = _sum_or_none([row["macs"], macs])
            row["activation_bytes"] = _sum_or_none([row["activation_bytes"], activation])
            continue
        trainable = _count_new(layer.trainable_weights, seen_weights)
        non_trainable = _count_new(layer.non_trainable_weights, seen_weights)
        shapes = [tuple(t.shape) for t in outputs]
        rows[name] = dict(type=type(layer).__name__, output_shape=shapes[0] if len(shapes) == 1 else shapes or None,
                          trainable=trainable, non_trainable=non_trainable, params=trainable + non_trainable,
                          macs=macs, activation_bytes=activation, formula=formula)
    missing = [w for w in model.weights if id(w) not in seen_weights]
    if missing:  # weights a model owns outside its layers' calls, so totals match count_params()
        n_train = _count_new([w for w in missing if w.trainable], seen_weights)
        n_other = _count_new(missing, seen_weights)
        rows["(weights outside layer calls)"] = dict(
            type="", output_shape=None, trainable=n_train, non_trainable=n_other,
            params=n_train + n_other, macs=0, activation_bytes=0,
            formula=" + ".join("*".join(map(str, w.shape)) or "1" for w in missing))
    for layer_type in unknown_types:
        warnings.warn(f"cnnlab.params has no MAC rule for layer type {layer_type}: its parameters "
                      "come from Keras and its MACs are marked unknown (<NA>).", stacklevel=2)
    table = ModelSummary.from_dict(rows, orient="index", columns=COLUMNS)
    table.index.name = "layer"
    for column in ("trainable", "non_trainable", "params", "macs", "activation_bytes"):
        table[column] = table[column].astype("Int64")
    activation_values = _activation_values(calls)
    totals = dict(trainable=int(table.trainable.sum()), non_trainable=int(table.non_trainable.sum()),
                  params=int(table.params.sum()), macs=int(table.macs.sum(skipna=True)),
                  unknown_macs=unknown_names, activation_bytes=int(table.activation_bytes.sum(skipna=True)),
                  unknown_activations=int(table.activation_bytes.isna().sum()),
                  weight_bytes=sum(_size(w) * _itemsize(w.dtype) for w in model.weights),
                  optimizer_params=_optimizer_params(model), batch_size=batch_size, dtype=dtype,
                  optimizer_slots=optimizer_slots)
    totals["training_bytes"] = _training_bytes(totals["params"], totals["trainable"], activation_values,
                                               batch_size, _itemsize(dtype), optimizer_slots)["total"]
    table.totals = totals
    return table


def training_memory(model, batch_size: int = 32, dtype: str = "float32",
                    optimizer_slots: int = 2) -> pd.Series:
    """Return the estimated bytes one training step keeps, by part (weights to total).

    Counts every number in ``dtype``: the weights, one gradient per trainable weight,
    ``optimizer_slots`` values per trainable weight (Adam 2, SGD with momentum 1, plain SGD 0),
    and ``batch_size`` copies of every layer's output, kept for backpropagation.

    >>> import keras
    >>> model = keras.Sequential([keras.Input((10,)), keras.layers.Dense(5)])
    >>> training_memory(model, batch_size=4).tolist()  # 55 weights; outputs 10 + 5 per example
    [220, 220, 440, 240, 1120]
    """
    _check_count(batch_size=batch_size)
    _check_count(optimizer_slots=optimizer_slots, allow_zero=True)
    calls = _trace_model(_check_model(model))
    trainable = sum(_size(w) for w in model.trainable_weights)
    params = sum(_size(w) for w in model.weights)
    values = _activation_values(calls)
    parts = _training_bytes(params, trainable, values, batch_size, _itemsize(dtype), optimizer_slots)
    return pd.Series(parts, name="bytes")


def _training_bytes(params, trainable, activation_values, batch_size, itemsize, slots) -> dict:
    parts = {"weights": params * itemsize, "gradients": trainable * itemsize,
             "optimizer": slots * trainable * itemsize,
             "activations": batch_size * activation_values * itemsize}
    parts["total"] = sum(parts.values())
    return parts


def _check_model(model):
    if not isinstance(model, keras.Model):
        if isinstance(model, keras.layers.Layer):
            raise TypeError(f"cnnlab.params expects a keras.Model, got the layer {type(model).__name__}: "
                            "wrap it, e.g. keras.Sequential([keras.Input(shape), layer]).")
        raise TypeError("cnnlab.params expects a keras.Model, got "
                        f"{type(model).__module__}.{type(model).__qualname__}.")
    if isinstance(model, keras.Sequential) and model._functional is None or not model.built:
        raise ValueError(
            f"Model '{model.name}' is not built, so its layers have no shapes yet. Build it: start it "
            "with keras.Input(shape=...), or call model.build((None, *input_shape)), or call it once "
            "on a batch (model(x[:1])); then count again.")
    return model


def _trace_model(model) -> list:
    """Return ``(name, layer, input_specs, output_specs)`` for every layer call, inputs first."""
    graph = model._functional if isinstance(model, keras.Sequential) else model
    if not isinstance(graph, keras.Model) or not hasattr(graph, "_run_through_graph"):
        return _untraceable(model)
    calls = [(t._keras_history.operation.name, t._keras_history.operation, [], [t]) for t in graph.inputs]
    _trace(graph, graph.inputs, "", calls)
    return calls


def _trace(graph, inputs, prefix: str, calls: list):
    """Run ``graph`` on symbolic ``inputs``, recording each layer call (nested models expanded)."""

    def operation_fn(op):
        def call(*args, **kwargs):
            tensors = [t for t in keras.tree.flatten((args, kwargs)) if isinstance(t, keras.KerasTensor)]
            inner = op._functional if isinstance(op, keras.Sequential) else op
            if isinstance(op, keras.Model) and hasattr(inner, "_run_through_graph"):
                return _trace(inner, tensors, f"{prefix}{op.name}/", calls)
            outputs = op.compute_output_spec(*args, **kwargs)
            calls.append((prefix + op.name, op, tensors, keras.tree.flatten(outputs)))
            return outputs
        return call

    return graph._run_through_graph(inputs, operation_fn=operation_fn)


def _untraceable(model) -> list:
    warnings.warn(f"{type(model).__name__} is a subclassed model: cnnlab.params can trace only Sequential "
                  "and functional models, so its layers' shapes and MACs are unknown. Write it with the "
                  "functional API to count them.", stacklevel=3)
    leaves = [layer for layer in model._flatten_layers(include_self=False, recursive=True)
              if not layer._layers]
    return [(layer.name, layer, [], []) for layer in leaves]


def _macs_and_formula(layer, inputs, outputs) -> tuple[int | None, str]:
    if not outputs:  # a layer of a subclassed model: no shapes, so no MACs
        return None, weights_formula(layer)
    return layer_cost(layer, [t.shape for t in inputs], [t.shape for t in outputs])


def _activation_bytes(outputs) -> int | None:
    sizes = [_elements(t.shape) for t in outputs]
    if not outputs or None in sizes:
        return None
    return sum(size * _itemsize(t.dtype) for size, t in zip(sizes, outputs))


def _activation_values(calls) -> int:
    """Values of every layer output for one example; sizes unknown before a call count as 0."""
    return sum(_elements(t.shape) or 0 for _, _, _, outputs in calls for t in outputs)


def _optimizer_params(model) -> int | None:
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or not getattr(optimizer, "built", False):
        return None
    return sum(_size(v) for v in optimizer.variables)


def _count_new(weights, seen: set) -> int:
    total = 0
    for w in weights:
        if id(w) not in seen:
            seen.add(id(w))
            total += _size(w)
    return total


def _size(weight) -> int:
    return math.prod(weight.shape)


def _elements(shape) -> int | None:
    dims = tuple(shape)[1:]
    return None if any(d is None for d in dims) else math.prod(dims)


def _sum_or_none(values) -> int | None:
    values = list(values)
    return None if any(v is None for v in values) else sum(values)


def _itemsize(dtype) -> int:
    name = keras.backend.standardize_dtype(dtype)
    if name == "bool":
        return 1
    bits = re.search(r"\d+", name)
    if bits is None:
        raise ValueError(f"dtype must be a numeric dtype such as 'float32', got {dtype!r}.")
    return max(1, int(bits.group()) // 8)


def _human(n_bytes: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n_bytes < 1024 or unit == "GiB":
            return f"{n_bytes:,} B" if unit == "B" else f"{n_bytes:,.1f} {unit}"
        n_bytes /= 1024


def _check_count(allow_zero: bool = False, **values) -> None:
    for name, value in values.items():
        low = 0 if allow_zero else 1
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}.")
