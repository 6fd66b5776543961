"""The Inception module and GoogLeNet (Inception v1, Szegedy et al. 2014), with the functional API.

Lesson 09 writes both out for the learner; these are the fixed forms its exercise and tests
check against. An Inception module runs four branches side by side on the same input and
concatenates their outputs along the depth axis:

* a 1x1 convolution;
* a 1x1 "reduce" convolution, then a 3x3 convolution;
* a 1x1 "reduce" convolution, then a 5x5 convolution;
* a 3x3 max pooling (stride 1), then a 1x1 "pool projection" convolution.

Every convolution has stride 1, ``same`` padding and a ReLU, so all four branches keep the
input's height and width. Its six hyper-parameters are the filter counts, in the order of
the paper's Table 1 (:data:`GOOGLENET_MODULES`).

>>> import keras
>>> x = keras.Input((28, 28, 192))
>>> y = inception_module(x, 64, 96, 128, 16, 32, 32, name="3a")
>>> tuple(y.shape), keras.Model(x, y).count_params()
((None, 28, 28, 256), 163696)
"""

from __future__ import annotations

import keras
from keras import layers

from cnnlab.layers import LocalResponseNormalization

__all__ = ["GOOGLENET_MODULES", "googlenet", "inception_module", "output_channels"]

#: The nine Inception modules of GoogLeNet (Table 1 of the paper): name -> (#1x1, #3x3 reduce,
#: #3x3, #5x5 reduce, #5x5, pool proj).
GOOGLENET_MODULES = {
    "3a": (64, 96, 128, 16, 32, 32),
    "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64),
    "4b": (160, 112, 224, 24, 64, 64),
    "4c": (128, 128, 256, 24, 64, 64),
    "4d": (112, 144, 288, 32, 64, 64),
    "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128),
    "5b": (384, 192, 384, 48, 128, 128),
}


def output_channels(filters_1x1, reduce_3x3, filters_3x3, reduce_5x5, filters_5x5, pool_proj) -> int:
    """Return the depth of a module's output: the four branches' filters added up.

    >>> output_channels(*GOOGLENET_MODULES["3a"])
    256
    """
    return filters_1x1 + filters_3x3 + filters_5x5 + pool_proj


def inception_module(x, filters_1x1, reduce_3x3, filters_3x3, reduce_5x5, filters_5x5, pool_proj,
                     name: str | None = None):
    """Return the output tensor of an Inception module (with 1x1 bottlenecks) applied to ``x``.

    Layer names start with ``name`` when given (``3a_1x1``, ``3a_3x3_reduce``, ...).
    """
    for what, value in [("filters_1x1", filters_1x1), ("reduce_3x3", reduce_3x3), ("filters_3x3", filters_3x3),
                        ("reduce_5x5", reduce_5x5), ("filters_5x5", filters_5x5), ("pool_proj", pool_proj)]:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{what} must be a number of filters (an integer >= 1), got {value!r}; "
                             "the six numbers are one row of the paper's Table 1, e.g. 64, 96, 128, 16, 32, 32.")

    def label(part):
        return f"{name}_{part}" if name else None

    def conv(filters, kernel, part):
        return layers.Conv2D(filters, kernel, padding="same", activation="relu", name=label(part))

    branch_1 = conv(filters_1x1, 1, "1x1")(x)
    branch_3 = conv(filters_3x3, 3, "3x3")(conv(reduce_3x3, 1, "3x3_reduce")(x))
    branch_5 = conv(filters_5x5, 5, "5x5")(conv(reduce_5x5, 1, "5x5_reduce")(x))
    pooled = layers.MaxPooling2D(3, strides=1, padding="same", name=label("pool"))(x)
    branch_pool = conv(pool_proj, 1, "pool_proj")(pooled)
    return layers.Concatenate(axis=-1, name=label("concat"))([branch_1, branch_3, branch_5, branch_pool])


def googlenet(input_shape=(224, 224, 3), num_classes: int = 1000) -> keras.Model:
    """Return GoogLeNet (Inception v1) as in Table 1 of the paper: 6,998,552 parameters for 1,000 classes.

    Without the two auxiliary classifiers, which only help training and are dropped at test
    time. The 7x7 average pooling of the paper is a global average pooling (the same on
    224x224 inputs, and it accepts other sizes).
    """
    pool = dict(pool_size=3, strides=2, padding="same")
    inputs = keras.Input(input_shape)
    x = layers.Conv2D(64, 7, strides=2, padding="same", activation="relu", name="conv1")(inputs)
    x = layers.MaxPooling2D(**pool, name="pool1")(x)
    x = LocalResponseNormalization(name="lrn1")(x)
    x = layers.Conv2D(64, 1, activation="relu", name="conv2_reduce")(x)
    x = layers.Conv2D(192, 3, padding="same", activation="relu", name="conv2")(x)
    x = LocalResponseNormalization(name="lrn2")(x)
    x = layers.MaxPooling2D(**pool, name="pool2")(x)
    for name, filters in GOOGLENET_MODULES.items():
        if name in ("4a", "5a"):
            x = layers.MaxPooling2D(**pool, name=f"pool{int(name[0]) - 1}")(x)
        x = inception_module(x, *filters, name=name)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    x = layers.Dropout(0.4, name="dropout")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="linear")(x)
    return keras.Model(inputs, outputs, name="googlenet")
