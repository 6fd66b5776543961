"""Layers the course needs that Keras lacks: local response normalization and tunable dropout.

Both use only ``keras.ops``, so they run on TensorFlow, JAX and PyTorch.
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="cnnlab")
class LocalResponseNormalization(keras.layers.Layer):
    """AlexNet's local response normalization across channels (channels last).

    ``b[..., c] = a[..., c] / (bias + alpha * sum(a[..., c-r : c+r+1] ** 2)) ** beta``
    with ``r = depth_radius``, the convention of ``tf.nn.local_response_normalization``.
    AlexNet used n = 5 neighbouring channels (r = 2), k = 2, alpha = 1e-4, beta = 0.75.
    The layer has no weights.
    """

    def __init__(self, depth_radius=2, bias=2.0, alpha=1e-4, beta=0.75, **kwargs):
        super().__init__(**kwargs)
        if int(depth_radius) != depth_radius or depth_radius < 0:
            raise ValueError(f"depth_radius must be a non-negative integer, got {depth_radius!r}")
        self.depth_radius = int(depth_radius)
        self.bias = float(bias)
        self.alpha = float(alpha)
        self.beta = float(beta)

    def call(self, inputs):
        channels = inputs.shape[-1]
        r = self.depth_radius
        squared = ops.square(inputs)
        padding = [[0, 0]] * (len(inputs.shape) - 1) + [[r, r]]
        padded = ops.pad(squared, padding)
        window_sum = padded[..., 0:channels]
        for offset in range(1, 2 * r + 1):
            window_sum = window_sum + padded[..., offset:offset + channels]
        scale = self.bias + self.alpha * window_sum
        if self.beta == 0.75:
            # AlexNet's beta: t**-0.75 = t**-0.5 * t**-0.25; a float power is several times
            # slower to train through on CPU, on TensorFlow and JAX alike.
            inverse_root = ops.rsqrt(scale)
            return inputs * inverse_root * ops.sqrt(inverse_root)
        return inputs / ops.power(scale, self.beta)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "depth_radius": self.depth_radius, "bias": self.bias,
                "alpha": self.alpha, "beta": self.beta}


@keras.saving.register_keras_serializable(package="cnnlab")
class TunableDropout(keras.layers.Layer):
    """Dropout whose rate is a variable, so it can change while a model trains.

    Keras' ``Dropout`` turns its rate into a constant when the train step is traced;
    changing ``layer.rate`` afterwards does nothing. Here the rate is a non-trainable
    scalar variable (it shows up as one non-trainable parameter); assign a new value with
    :meth:`set_rate` and the next batch uses it, also inside a compiled train step.
    """

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.initial_rate = _check_rate(rate)
        self.noise_shape = noise_shape
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True
        self.rate = self.add_weight(shape=(), initializer=keras.initializers.Constant(self.initial_rate),
                                    trainable=False, name="rate", dtype="float32")
        self.built = True

    def set_rate(self, rate) -> None:
        """Assign a new dropout rate (0 <= rate < 1), used from the next batch on."""
        self.rate.assign(_check_rate(rate))

    def get_rate(self) -> float:
        """Return the current dropout rate as a Python float."""
        # 7 significant digits: the float32 0.1 would read back as 0.10000000149
        return float(f"{float(ops.convert_to_numpy(self.rate)):.7g}")

    def call(self, inputs, training=False):
        if not training:
            return inputs
        rate = ops.cast(self.rate, inputs.dtype)
        keep = 1.0 - rate
        shape = ops.shape(inputs)
        if self.noise_shape is not None:
            # Like Keras' Dropout: None in noise_shape means "the input's size along that axis".
            shape = tuple(shape[i] if size is None else size for i, size in enumerate(self.noise_shape))
        uniform = keras.random.uniform(shape, seed=self.seed_generator, dtype=inputs.dtype)
        mask = ops.cast(uniform >= rate, inputs.dtype)
        return inputs * mask / keep

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "rate": self.get_rate(), "noise_shape": self.noise_shape,
                "seed": self.seed}


def _check_rate(rate) -> float:
    rate = float(rate)
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"dropout rate must be in [0, 1), got {rate}: a rate of 1 would drop every unit.")
    return rate


def tunable_dropout_layers(model: keras.Model) -> list[TunableDropout]:
    """Return every :class:`TunableDropout` layer in ``model``, nested models included."""
    found = []
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, TunableDropout):
            found.append(layer)
    return found


def make_dropout_tunable(model: keras.Model) -> keras.Model:
    """Return a copy of ``model`` with every ``keras.layers.Dropout`` replaced by :class:`TunableDropout`.

    All weights are kept; the copy is not compiled (compile it before training).
    """
    if not isinstance(model, keras.Model):
        raise TypeError(f"make_dropout_tunable expects a keras.Model, got {type(model).__name__}")
    if not model.built:
        raise ValueError("The model is not built yet: give it an Input (or input_shape) or call it "
                         "once on a batch, then convert it.")

    def clone(layer):
        if isinstance(layer, keras.layers.Dropout):
            return TunableDropout(layer.rate, noise_shape=layer.noise_shape, seed=layer.seed,
                                  name=layer.name)
        return layer.__class__.from_config(layer.get_config())

    new = keras.models.clone_model(model, clone_function=clone)
    source = {w.path: w for w in model.weights}
    for w in new.weights:
        if w.path in source and tuple(w.shape) == tuple(source[w.path].shape):
            # A host copy: on JAX the two models must not share a buffer, or the first
            # jitted call that donates it deletes the other model's weights.
            w.assign(ops.convert_to_numpy(source[w.path]))
    return new
