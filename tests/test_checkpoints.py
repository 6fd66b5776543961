import json

import keras
import numpy as np
import pytest

from cnnlab.checkpoints import (AtomicCheckpoint, DisconnectAt, SimulatedDisconnect, load_checkpoint,
                                save_checkpoint)


def data():
    rng = np.random.default_rng(0)
    return rng.random((96, 6)).astype("float32"), rng.integers(0, 3, 96)


def build():
    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(3, activation="softmax")])
    model.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy")
    return model


def test_empty_folder_has_no_checkpoint(tmp_path):
    assert load_checkpoint(tmp_path) == (None, 0)


def test_save_leaves_only_the_checkpoint(tmp_path):
    model = build()
    save_checkpoint(model, tmp_path, epochs_done=2)
    save_checkpoint(model, tmp_path, epochs_done=3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.json", "checkpoint.keras"]
    assert json.loads((tmp_path / "checkpoint.json").read_text()) == {"epochs_done": 3}


def test_interrupted_and_resumed_run_equals_an_uninterrupted_one(tmp_path):
    x, y = data()
    whole = build()
    whole.fit(x, y, epochs=4, batch_size=16, shuffle=False, verbose=0)
    broken = build()
    with pytest.raises(SimulatedDisconnect, match="epoch 3"):
        broken.fit(x, y, epochs=4, batch_size=16, shuffle=False, verbose=0,
                   callbacks=[AtomicCheckpoint(tmp_path), DisconnectAt(3)])
    resumed, done = load_checkpoint(tmp_path)
    assert done == 3
    resumed.fit(x, y, epochs=4, initial_epoch=done, batch_size=16, shuffle=False, verbose=0)
    assert int(resumed.optimizer.iterations) == int(whole.optimizer.iterations) == 24
    for a, b in zip(whole.get_weights(), resumed.get_weights()):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)


def test_disconnect_needs_a_valid_epoch():
    with pytest.raises(ValueError, match="epoch >= 0"):
        DisconnectAt(-1)
