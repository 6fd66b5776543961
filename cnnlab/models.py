"""Reference architectures the lessons and tests share, written out layer by layer.

Lessons write their own models in the notebook; these are the fixed forms whose parameter
counts the course states, so tests and graders can check them.
"""

from __future__ import annotations

import keras
from keras import layers

from cnnlab.layers import LocalResponseNormalization

__all__ = ["lenet5", "alexnet"]


def lenet5(input_shape=(28, 28, 1), num_classes: int = 10) -> keras.Model:
    """Return LeNet-5 in the usual 28x28 Keras form (tanh, average pooling): 61,706 parameters.

    The first conv uses ``same`` padding so a 28x28 image plays the role of LeCun's padded
    32x32 one; the layers then match the 1998 paper: 6 and 16 feature maps, 120, 84 and 10 units.
    """
    return keras.Sequential([
        keras.Input(input_shape),
        layers.Conv2D(6, 5, padding="same", activation="tanh", name="c1"),
        layers.AveragePooling2D(2, name="s2"),
        layers.Conv2D(16, 5, activation="tanh", name="c3"),
        layers.AveragePooling2D(2, name="s4"),
        layers.Flatten(name="flatten"),
        layers.Dense(120, activation="tanh", name="c5"),
        layers.Dense(84, activation="tanh", name="f6"),
        layers.Dense(num_classes, activation="softmax", name="output"),
    ], name="lenet5")


def alexnet(input_shape=(227, 227, 3), num_classes: int = 1000) -> keras.Model:
    """Return AlexNet in the course-notes form: 61,985,128 parameters for 1,000 classes.

    A 227x227x3 input, an 11x11 stride-4 conv with 96 filters, then 3x3 convs with 256, 384,
    384 and 256 filters (the 2012 paper's second conv is 5x5 and split over two GPUs; the notes
    use 3x3, which gives their 221,440), overlapping 3x3 stride-2 max pooling, local response
    normalization after the first two convs, and two dense layers of 4,096 with dropout 0.5.
    """
    conv = dict(activation="relu", padding="same")
    return keras.Sequential([
        keras.Input(input_shape),
        layers.Conv2D(96, 11, strides=4, activation="relu", name="conv1"),
        LocalResponseNormalization(name="lrn1"),
        layers.MaxPooling2D(3, strides=2, name="pool1"),
        layers.Conv2D(256, 3, name="conv2", **conv),
        LocalResponseNormalization(name="lrn2"),
        layers.MaxPooling2D(3, strides=2, name="pool2"),
        layers.Conv2D(384, 3, name="conv3", **conv),
        layers.Conv2D(384, 3, name="conv4", **conv),
        layers.Conv2D(256, 3, name="conv5", **conv),
        layers.MaxPooling2D(3, strides=2, name="pool5"),
        layers.Flatten(name="flatten"),
        layers.Dense(4096, activation="relu", name="fc6"),
        layers.Dropout(0.5, name="drop6"),
        layers.Dense(4096, activation="relu", name="fc7"),
        layers.Dropout(0.5, name="drop7"),
        layers.Dense(num_classes, activation="softmax", name="fc8"),
    ], name="alexnet")
