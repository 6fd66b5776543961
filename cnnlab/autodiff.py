"""Gradients by the backend's automatic differentiation, one call on TensorFlow, JAX and PyTorch.

``keras.ops`` covers the forward computation on every backend, but asking for a gradient is
left to the backend: ``tf.GradientTape``, ``jax.grad`` or PyTorch's autograd. Lessons call
:func:`gradients` instead, so they run unchanged on any of them::

    def loss_fn(p):
        return keras.ops.mean((x @ p["w"] - y) ** 2)

    loss, grads = cnnlab.autodiff.gradients(loss_fn, {"w": np.zeros(3)})

Values go in and come out as NumPy arrays of the dtypes given. float64 inputs are computed in
float64 where Keras allows it: fully on TensorFlow; on JAX (x64 switched on for the call) and
PyTorch Keras' own type rules compute mixed and reduced values (``ops.mean``) in float32, so
expect agreement to about 1e-7 there rather than 1e-15.
"""

from __future__ import annotations

import contextlib

import keras
import numpy as np


def _flatten(variables):
    """Return (list of float arrays, function rebuilding the structure from such a list)."""
    if isinstance(variables, dict):
        names = list(variables)
        return [_as_array(variables[n], n) for n in names], lambda flat: dict(zip(names, flat))
    if isinstance(variables, (list, tuple)):
        kind = type(variables)
        return [_as_array(v, i) for i, v in enumerate(variables)], lambda flat: kind(flat)
    return [_as_array(variables, "variables")], lambda flat: flat[0]


def _as_array(value, name) -> np.ndarray:
    try:
        # NumPy values stay as they are: converting them through a backend (JAX without x64)
        # could round float64 to float32.
        array = np.asarray(value) if isinstance(value, (np.ndarray, np.generic, list, float, int)) \
            else np.asarray(keras.ops.convert_to_numpy(value))
    except Exception as error:  # noqa: BLE001 - report what could not be read, whatever it was
        raise TypeError(f"variable {name!r} could not be read as an array ({type(error).__name__}: "
                        f"{error}); pass NumPy arrays (or backend tensors) of floats.") from None
    if array.dtype.kind != "f":
        raise TypeError(f"variable {name!r} has dtype {array.dtype}; gradients need floats: "
                        f"convert it with .astype('float32') or .astype('float64').")
    return array


def _checked(loss):
    """Return ``loss`` if it is one number; else raise, saying how to make it one."""
    shape = tuple(keras.ops.shape(loss))
    if int(np.prod(shape)) != 1:
        raise ValueError(f"loss_fn must return a single number (a scalar tensor), got shape {shape}; "
                         f"average or sum it, e.g. with keras.ops.mean.")
    return keras.ops.reshape(loss, ())


def gradients(loss_fn, variables):
    """Return ``(loss, grads)``: ``loss_fn(variables)`` as a float and its gradient, shaped like ``variables``.

    ``variables`` is an array, a list of arrays or a dict of them; ``loss_fn`` receives the
    same structure as backend tensors and returns a scalar computed with ``keras.ops``.
    ``grads`` has the structure of ``variables``, with NumPy arrays of their dtypes.
    """
    flat, rebuild = _flatten(variables)

    def scalar_loss(values):
        return _checked(loss_fn(rebuild(values)))

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        tensors = [tf.convert_to_tensor(v) for v in flat]
        with tf.GradientTape() as tape:
            for t in tensors:
                tape.watch(t)
            loss = scalar_loss(tensors)
        grads = tape.gradient(loss, tensors, unconnected_gradients=tf.UnconnectedGradients.ZERO)
    elif backend == "jax":
        import jax

        needs_x64 = any(v.dtype == np.float64 for v in flat)
        with jax.enable_x64(True) if needs_x64 else contextlib.nullcontext():
            loss, grads = jax.value_and_grad(scalar_loss)(
                [jax.numpy.asarray(v) for v in flat])
            grads = [np.asarray(g) for g in grads]
    elif backend == "torch":
        import torch

        device = keras.backend.convert_to_tensor(np.zeros(1)).device
        tensors = [torch.tensor(v, device=device, requires_grad=True) for v in flat]
        loss = scalar_loss(tensors)
        grads = torch.autograd.grad(loss, tensors, allow_unused=True)
        grads = [torch.zeros_like(t) if g is None else g for t, g in zip(tensors, grads)]
        grads = [g.detach().cpu().numpy() for g in grads]
    else:
        raise NotImplementedError(f"cnnlab.autodiff has no gradient for Keras backend {backend!r}; "
                                  f"use tensorflow, jax or torch (set KERAS_BACKEND).")
    grads = [np.asarray(keras.ops.convert_to_numpy(g)).astype(v.dtype) for g, v in zip(grads, flat)]
    return float(keras.ops.convert_to_numpy(loss)), rebuild(grads)


def weight_gradients(model, x, y, loss="sparse_categorical_crossentropy"):
    """Return ``(loss, grads)``: the model's mean ``loss`` on ``(x, y)`` and its gradient per weight.

    ``grads`` maps each trainable variable's path (``"dense/kernel"``) to a NumPy array; the
    model runs in inference mode (no dropout), with its current weights left unchanged.
    """
    if not model.built:
        raise ValueError("The model has no weights yet: build it (keras.Input, or call it on data) first.")
    loss_function = keras.losses.get(loss)
    trainable = model.trainable_variables
    fixed = [v.value for v in model.non_trainable_variables]
    x = keras.ops.convert_to_tensor(x)

    def loss_fn(values):
        outputs, _ = model.stateless_call(values, fixed, x, training=False)
        return keras.ops.mean(loss_function(y, outputs))

    value, grads = gradients(loss_fn, [v.value for v in trainable])
    return value, {v.path: g for v, g in zip(trainable, grads)}
