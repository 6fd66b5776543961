"""The live training panel: changes made mid-epoch reach the record and the computation itself."""

import xml.etree.ElementTree as ET

import numpy as np
import pytest

import cnnlab  # noqa: F401  (sets the backend quietly before keras loads)
import keras
from keras import ops

from cnnlab.layers import TunableDropout, make_dropout_tunable, tunable_dropout_layers
from cnnlab.widgets import train
from cnnlab.widgets.live import wait_for

FEATURES = 4
BATCH = 16


class PauseAt(keras.callbacks.Callback):
    """Pauses the panel once batch ``at`` has begun, so the next batch waits: a fixed point to act at."""

    def __init__(self, panel_ref, at):
        super().__init__()
        self.panel_ref, self.at = panel_ref, at

    def on_train_batch_begin(self, batch, logs=None):
        if batch == self.at and self.at is not None:
            self.panel_ref[0].controls.pause()
            self.at = None  # once, not in every epoch


class FailAt(keras.callbacks.Callback):
    def on_train_batch_begin(self, batch, logs=None):
        if batch == 2:
            raise RuntimeError("boom at batch 2")


def sum_model(lr=0.01):
    """A linear model whose loss is the mean output: with inputs of ones, SGD moves each weight by exactly -lr."""
    model = keras.Sequential([keras.Input((FEATURES,)),
                              keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros")])
    model.compile(optimizer=keras.optimizers.SGD(lr), loss=lambda y_true, y_pred: ops.mean(y_pred))
    return model


def ones(batches, features=FEATURES):
    return np.ones((batches * BATCH, features), "float32"), np.zeros((batches * BATCH, 1), "float32")


def start_paused_at(model, data, at, epochs=1, **kwargs):
    """Start a headless panel that pauses before batch ``at + 1``; return it once it waits there."""
    ref = []
    callbacks = [PauseAt(ref, at)] + list(kwargs.pop("callbacks", []))
    panel = train(model, data, epochs=epochs, batch_size=BATCH, display=False, callbacks=callbacks,
                  mode="thread", **kwargs)
    ref.append(panel)
    panel.start()
    assert wait_for(lambda: panel.controls.paused and panel.controls.step == at + 1, 60)
    return panel


@pytest.mark.backends
def test_learning_rate_change_mid_epoch_sets_the_size_of_later_updates():
    panel = start_paused_at(sum_model(0.01), ones(12), at=4)
    panel.set_lr(0.1)
    panel.resume()
    panel.wait(60)

    record = panel.record
    assert record["lr"].tolist() == [0.01] * 5 + [0.1] * 7
    # The loss is the sum of the 4 weights before the update, so its steps are 4 * lr.
    updates = -np.diff(record["batch_loss"].to_numpy()) / FEATURES
    np.testing.assert_allclose(updates, record["lr"].to_numpy()[:-1], rtol=1e-4)
    weight = ops.convert_to_numpy(panel.model.weights[0])
    np.testing.assert_allclose(weight, -(5 * 0.01 + 7 * 0.1), rtol=1e-5)
    assert panel.changes[["step", "name", "old", "new"]].values.tolist() == [[5, "lr", 0.01, 0.1]]


@pytest.mark.backends
def test_replay_callback_reproduces_the_recorded_learning_rates():
    panel = start_paused_at(sum_model(0.01), ones(10), at=3, epochs=2)
    panel.set_lr(0.2)
    panel.resume()
    panel.wait(60)

    class LearningRates(keras.callbacks.Callback):
        seen = []

        def on_train_batch_end(self, batch, logs=None):
            self.seen.append(float(ops.convert_to_numpy(self.model.optimizer.learning_rate)))

    fresh = sum_model(0.01)
    fresh.fit(*ones(10), batch_size=BATCH, epochs=2, verbose=0,
              callbacks=[panel.replay_callback(), LearningRates()])
    np.testing.assert_allclose(LearningRates.seen, panel.record["lr"], rtol=1e-6)
    np.testing.assert_allclose(ops.convert_to_numpy(fresh.weights[0]),
                               ops.convert_to_numpy(panel.model.weights[0]), rtol=1e-5)
    schedule = panel.lr_schedule()
    np.testing.assert_allclose([float(schedule(i)) for i in range(20)], panel.record["lr"], rtol=1e-6)


def identity_with_dropout(rate, width=512):
    """Ones through TunableDropout into a frozen identity: the loss measures dropout, E = p / (1 - p)."""
    model = keras.Sequential([keras.Input((width,)), TunableDropout(rate, seed=1),
                              keras.layers.Dense(width, use_bias=False, kernel_initializer="identity")])
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse")
    return model


@pytest.mark.backends
def test_dropout_change_mid_epoch_changes_the_training_loss():
    width = 512
    x = np.ones((12 * BATCH, width), "float32")
    panel = start_paused_at(identity_with_dropout(0.2, width), (x, x), at=4)
    panel.set_dropout(0.5)
    panel.resume()
    panel.wait(60)

    record = panel.record
    assert record["dropout"].tolist() == pytest.approx([0.2] * 5 + [0.5] * 7)
    np.testing.assert_allclose(record["batch_loss"][:5], 0.2 / 0.8, rtol=0.1)
    np.testing.assert_allclose(record["batch_loss"][5:], 0.5 / 0.5, rtol=0.1)
    assert tunable_dropout_layers(panel.model)[0].get_rate() == pytest.approx(0.5)


@pytest.mark.backends
def test_make_dropout_tunable_keeps_weights_and_finds_the_layers():
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(6), keras.layers.Dropout(0.3),
                              keras.layers.Dense(2)])
    tunable = make_dropout_tunable(model)
    assert [layer.get_rate() for layer in tunable_dropout_layers(tunable)] == pytest.approx([0.3])
    for a, b in zip(model.get_weights(), [w for w in tunable.get_weights() if np.ndim(w)]):
        np.testing.assert_array_equal(a, b)
    x = np.random.default_rng(0).normal(size=(5, 8)).astype("float32")
    np.testing.assert_allclose(tunable.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)


@pytest.mark.backends
def test_pause_holds_training_and_stop_keeps_weights_and_record():
    panel = start_paused_at(sum_model(0.01), ones(40), at=2, epochs=3)
    wait_for(lambda: False, 0.3)  # give a wrongly running loop time to move on
    assert panel.controls.step == 3 and len(panel.record) == 3

    panel.stop()
    panel.wait(60)
    assert not panel.running
    assert 3 <= len(panel.record) <= 4  # at most the one batch already let through
    steps = len(panel.record)
    np.testing.assert_allclose(ops.convert_to_numpy(panel.model.weights[0]), -0.01 * steps, rtol=1e-5)
    assert panel.view.status.value.startswith(f"stopped · step {steps}")

    panel.reset_weights()
    assert ops.convert_to_numpy(panel.model.weights[0]).tolist() == [[0.0]] * FEATURES
    assert int(ops.convert_to_numpy(panel.model.optimizer.iterations)) == 0 and len(panel.record) == 0


def test_an_error_in_training_is_shown_and_kept():
    panel = train(sum_model(), ones(6), epochs=1, batch_size=BATCH, display=False,
                  callbacks=[FailAt()], autostart=True, mode="thread")
    with pytest.raises(RuntimeError, match="boom at batch 2"):
        panel.wait(60)
    assert isinstance(panel.error, RuntimeError)
    assert "boom at batch 2" in panel.view.error.value
    assert not panel.view.buttons["Train"].disabled
    assert "training failed: RuntimeError: boom at batch 2" in panel.summary()


def test_headless_autostart_trains_to_the_end_before_returning_and_raises_its_error():
    panel = train(sum_model(0.01), ones(6), epochs=2, batch_size=BATCH, display=False,
                  autostart=True)  # pytest: no IPython kernel, so no one can click
    assert panel.mode == "block" and "a script" in panel.headless
    assert not panel.running and len(panel.record) == 12 and panel.controls.epochs_done == 2
    assert panel.summary().splitlines()[:2] == ["finished; 12 steps, 2 epoch(s) done",
                                                "changes applied: none"]
    with pytest.raises(RuntimeError, match="boom at batch 2"):
        train(sum_model(), ones(6), epochs=1, batch_size=BATCH, display=False,
              callbacks=[FailAt()], autostart=True)


def test_a_change_counts_as_applied_only_once_a_batch_used_it():
    panel = start_paused_at(sum_model(0.01), ones(8), at=2)
    panel.set_lr(0.1)
    assert panel.changes.empty and panel.controls.pending() == {"lr": 0.1}
    assert panel.view.log_lines[-1] == "lr -> 0.1 requested: applies from the next batch"
    panel.resume()
    panel.wait(60)
    assert panel.changes.values.tolist() == [[3, "lr", 0.01, 0.1]]
    assert "step 3: lr 0.01 -> 0.1 applied (first batch using it)" in panel.view.log_lines
    assert panel.record["lr"].tolist() == [0.01] * 3 + [0.1] * 5  # the log's step is the record's


class RequestDuring(keras.callbacks.Callback):
    """Moves the lr slider once the last batch has begun: too late for this training."""

    def __init__(self, panel_ref, at):
        super().__init__()
        self.panel_ref, self.at = panel_ref, at

    def on_train_batch_begin(self, batch, logs=None):
        if batch == self.at:
            self.panel_ref[0].set_lr(0.1)


def test_a_change_no_batch_used_is_reported_not_applied_and_kept_for_the_next_run():
    ref = []
    panel = train(sum_model(0.01), ones(4), epochs=1, batch_size=BATCH, display=False,
                  callbacks=[RequestDuring(ref, 3)], mode="thread")
    ref.append(panel)
    panel.start()
    panel.wait(60)
    assert panel.changes.empty and set(panel.record["lr"]) == {0.01}
    assert ("lr 0.1 not applied: training ended at step 4 before another batch; it applies from "
            "the next training's first batch") in panel.view.log_lines
    assert "requested, no batch used it yet: lr 0.1" in panel.summary()
    panel.extra_callbacks.clear()
    panel.start()
    panel.wait(60)
    assert panel.changes.values.tolist() == [[4, "lr", 0.01, 0.1]]
    assert panel.record["lr"].tolist() == [0.01] * 4 + [0.1] * 4


def test_an_uncompiled_model_is_refused_with_the_fix():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    with pytest.raises(ValueError, match="not compiled.*model.compile"):
        train(model, ones(2, 2), display=False)


def test_sliders_explain_what_cannot_be_tuned():
    plain = train(sum_model(), ones(2), display=False)
    assert plain.view.dropout.disabled and "no dropout layer" in plain.view.notes.value

    fixed = keras.Sequential([keras.Input((FEATURES,)), keras.layers.Dropout(0.5), keras.layers.Dense(1)])
    fixed.compile(optimizer="sgd", loss="mse")
    assert "make_dropout_tunable" in train(fixed, ones(2), display=False).view.notes.value

    scheduled = sum_model()
    scheduled.compile(optimizer=keras.optimizers.SGD(keras.optimizers.schedules.ExponentialDecay(
        0.1, 10, 0.5)), loss="mse")
    panel = train(scheduled, ones(2), display=False)
    assert panel.view.lr.disabled and "LearningRateSchedule" in panel.view.notes.value
    with pytest.raises(ValueError, match="LearningRateSchedule"):
        panel.set_lr(0.01)


def test_typed_values_out_of_range_are_clamped_with_a_message():
    panel = train(identity_with_dropout(0.1, 8), (np.ones((32, 8)), np.ones((32, 8))),
                  display=False, lr_range=(1e-4, 1.0))
    panel.view.lr_box.value = 5.0
    assert panel.view.lr.value == pytest.approx(1.0)
    assert "learning rate 5 is outside [0.0001, 1]: using 1." in panel.view.log_text
    panel.view.dropout_box.value = -0.5
    assert panel.view.dropout.value == 0.0 and "dropout -0.5 is outside" in panel.view.log_text
    panel.view.batch_size.value = 1000
    panel.start()
    panel.wait(60)
    assert panel.view.batch_size.value == 32 and "batch size 1000 is outside" in panel.view.log_text
    assert panel.record["lr"].iloc[0] == pytest.approx(1.0) and panel.record["dropout"].iloc[0] == 0.0


def test_panel_figure_shows_changes_and_validation():
    data = (np.ones((6 * BATCH, 16)), np.ones((6 * BATCH, 16)))
    fresh = train(identity_with_dropout(0.2, 16), data, display=False, draw=True)
    assert "<svg" in fresh.view.plot.value and "after the first batches" in fresh.view.plot.value
    panel = start_paused_at(identity_with_dropout(0.2, 16), data, at=1, epochs=2,
                            val_data=data, draw=True, redraw_every=0.1)
    # Drawn while training (by the drawing thread), not only at the end:
    assert wait_for(lambda: 'data-last-step="2"' in panel.view.plot.value, 30)
    assert panel.view.status.value.startswith("step 2/12 · loss ")
    panel.set_dropout(0.4)
    panel.resume()
    panel.wait(60)
    assert panel.validation["epoch"].tolist() == [0, 1] and "val_loss" in panel.validation
    assert panel.view.progress.value == panel.view.progress.max == 12
    assert panel.view.status.value.startswith("finished · step 12")
    svg = ET.fromstring(panel.view.plot.value)
    ns = {"s": "http://www.w3.org/2000/svg"}
    assert svg.get("data-last-step") == "12" and svg.get("data-changes") == "1"
    panels = [g.get("data-name") for g in svg.iterfind("s:g[@class='panel']", ns)]
    assert panels == ["loss", "lr", "dropout"]  # each on its own axes
    marks = svg.findall(".//s:line[@class='change']", ns)
    assert {(m.get("data-step"), m.get("data-name")) for m in marks} == {("2", "dropout")}
    assert len(marks) == 3  # through every panel
    assert len(svg.findall(".//s:circle[@class='val-point']", ns)) == 2


def _svg_of(losses, lrs=None, changes=()):
    from cnnlab.widgets.panel_plot import Curves, training_svg

    curves = Curves()
    curves.update([{"step": i, "epoch": 0, "batches": 1, "lr": (lrs or [0.01] * len(losses))[i],
                    "dropout": 0.5, "loss": float(np.mean(losses[:i + 1]))} for i in range(len(losses))])
    np.testing.assert_allclose(curves.values["loss"], losses, rtol=1e-6)  # undone from the running mean
    return ET.fromstring(training_svg(curves, [{"step": len(losses), "epoch": 0, "val_loss": losses[-1]}],
                                      list(changes), total_steps=2 * len(losses)))


def test_the_figure_turns_the_loss_axis_logarithmic_past_a_decade_and_keeps_legends_off_the_curves():
    ns = {"s": "http://www.w3.org/2000/svg"}
    steady = _svg_of(list(np.linspace(1.0, 0.5, 50)))
    diverged = _svg_of(list(np.linspace(1.0, 0.5, 50)) + [30.0, 80.0])
    loss = "s:g[@data-name='loss']"
    assert steady.find(loss, ns).get("data-yscale") == "linear"
    assert diverged.find(loss, ns).get("data-yscale") == "log"
    ticks = [t.text for t in diverged.findall(loss + "/s:text[@class='tick']", ns)]
    assert {"1", "10"} <= set(ticks)
    for panel in diverged.iterfind("s:g[@class='panel']", ns):  # each legend sits above its axes
        top = float(panel.find("s:rect", ns).get("y"))
        assert all(float(t.get("y")) < top for t in panel.findall("s:text[@class='legend']", ns))
    many = _svg_of(list(np.linspace(2.0, 0.5, 5000)))  # long runs stay cheap to send and draw
    points = many.find(loss + "/s:polyline[@class='train-smooth']", ns).get("points").split()
    assert len(points) == 400 and len(ET.tostring(many)) < 60_000


@pytest.mark.parametrize("task", ["xor", "circles", "spirals", "blobs"])
def test_playground_tasks_are_balanced_2d_points_in_the_unit_square(task):
    from cnnlab.widgets.playground_tasks import make_task

    x, y = make_task(task, n=200, noise=0.05)
    assert x.shape == (200, 2) and x.dtype == np.float32 and np.abs(x).max() <= 1
    assert set(np.unique(y)) == {0, 1} and 60 <= y.sum() <= 140


def test_playground_learns_blobs_and_restarts_when_the_architecture_changes():
    from cnnlab.widgets import playground

    pg = playground("blobs", hidden=(4,), lr=0.3, epochs=10, batch_size=40, display=False,
                    autostart=True)
    pg.wait(60)
    assert len(pg.history) == 10 and pg.history[-1]["loss"] < pg.history[0]["loss"]
    assert pg.accuracy() > 0.85
    assert pg.plot.value[:4] == b"\x89PNG"

    pg.controls["hidden"].value = "3, 2"
    assert [layer.units for layer in pg.model.layers] == [3, 2, 1] and pg.history == []
    pg.controls["hidden"].value = "3, x"
    assert "not whole numbers" in pg.status.value


@pytest.mark.backends
def test_with_steps_per_execution_changes_apply_at_the_next_chunk():
    model = sum_model(0.01)
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss=lambda t, p: ops.mean(p),
                  steps_per_execution=2)
    ref = []
    panel = train(model, ones(12), epochs=1, batch_size=BATCH, display=False,
                  callbacks=[PauseAt(ref, 2)], mode="thread")
    ref.append(panel)
    panel.start()
    assert wait_for(lambda: panel.controls.paused and panel.controls.step == 4, 60)
    panel.set_lr(0.1)
    panel.resume()
    panel.wait(60)
    record = panel.record
    assert record["step"].tolist() == [0, 2, 4, 6, 8, 10] and set(record["batches"]) == {2}
    assert record["lr"].tolist() == [0.01, 0.01, 0.1, 0.1, 0.1, 0.1]
    np.testing.assert_allclose(ops.convert_to_numpy(model.weights[0]), -(4 * 0.01 + 8 * 0.1), rtol=1e-5)

