"""The training panel in a real kernel: how a cell is sent decides its mode, and Colab's mode handles widget messages.

The Colab test needs ipykernel 5 or 6 (Colab ships 6.17.1); with ipykernel 7 it is skipped,
and the CI step that installs Colab's ipykernel and ipywidgets runs it.
"""

import pytest

pytest.importorskip("jupyter_client")

def _kernel():
    from jupyter_client.manager import start_new_kernel

    from conftest import KERNEL_NAME

    return start_new_kernel(kernel_name=KERNEL_NAME, startup_timeout=120)


def _outputs(kc, msg_id, timeout=300):
    """Collect the stdout of request ``msg_id`` until the kernel is idle after it; keep comm_opens seen."""
    text, comms = [], []
    while True:
        msg = kc.get_iopub_msg(timeout=timeout)
        kind, content = msg["msg_type"], msg["content"]
        if kind == "comm_open":
            comms.append(content)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if kind == "stream":
            text.append(content["text"])
        elif kind == "error":
            raise AssertionError("\n".join(content["traceback"]))
        elif kind == "status" and content["execution_state"] == "idle":
            return "".join(text), comms


def test_a_cell_sent_without_stdin_is_headless_and_one_from_a_front_end_is_live():
    km, kc = _kernel()
    try:
        code = ("from cnnlab.widgets.runner import pick_mode, headless_reason\n"
                "print(pick_mode(), '|', headless_reason())")
        headless, _ = _outputs(kc, kc.execute(code, allow_stdin=False))  # as nbclient and nbval send it
        live, _ = _outputs(kc, kc.execute(code, allow_stdin=True))       # as JupyterLab sends it
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    assert headless.startswith("block | the cell came from a client that cannot answer input()")
    assert live.strip() == "thread | None"


COLAB_CELL = """\
import time, numpy as np, keras, cnnlab
from keras import ops
from cnnlab.widgets import train

model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros")])
model.compile(optimizer=keras.optimizers.SGD(0.01), loss=lambda t, p: ops.mean(p))
ref = []

class Gate(keras.callbacks.Callback):  # holds batch 3 until the slider message came through the pump
    def on_train_batch_begin(self, batch, logs=None):
        if batch == 3:
            print("GATE", flush=True)
            deadline = time.monotonic() + 120
            while not ref[0].controls.pending() and time.monotonic() < deadline:
                ref[0]._tick()  # what the loop does before each batch in 'cell' mode
                time.sleep(0.01)

panel = train(model, (np.ones((40 * 16, 4), "float32"), np.zeros((40 * 16, 1), "float32")),
              epochs=1, batch_size=16, mode="cell", callbacks=[Gate()], draw=True)
ref.append(panel)
panel.start()
print("TRAINED", len(panel.record), flush=True)
"""


def test_colab_mode_handles_a_slider_message_while_the_cell_trains_and_holds_other_cells():
    import ipykernel

    if int(ipykernel.__version__.split(".")[0]) >= 7:
        pytest.skip(f"Colab's mode pumps ipykernel 5 and 6 only (Colab ships 6.17.1), this is "
                    f"{ipykernel.__version__}; the Colab-floor CI step runs this test")
    km, kc = _kernel()
    try:
        train_id = kc.execute(COLAB_CELL, allow_stdin=True)
        slider, seen = None, ""
        while "GATE" not in seen or slider is None:
            msg = kc.get_iopub_msg(timeout=300)
            content = msg["content"]
            if msg["msg_type"] == "comm_open" and content["data"]["state"].get("_model_name") == "FloatLogSliderModel":
                slider = content["comm_id"]
            elif msg["msg_type"] == "stream":
                seen += content["text"]
            elif msg["msg_type"] == "error":
                raise AssertionError("\n".join(content["traceback"]))
        later_id = kc.execute("print('LATER', len(panel.record))")  # must wait for training
        kc.shell_channel.send(kc.session.msg("comm_msg", {"comm_id": slider, "data": {
            "method": "update", "state": {"value": 0.1}, "buffer_paths": []}}))
        trained, _ = _outputs(kc, train_id)
        later, _ = _outputs(kc, later_id)
        check, _ = _outputs(kc, kc.execute(
            "print(panel.record['lr'].tolist(), panel.changes.values.tolist())"))
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    assert "TRAINED 40" in trained and later.strip() == "LATER 40"
    lrs, changes = check.split("] [")
    assert lrs.strip("[") == ", ".join(["0.01"] * 4 + ["0.1"] * 36)
    assert changes.strip("]\n") == "[4, 'lr', 0.01, 0.1"
