"""The training panel as a user meets it: real JupyterLab, headless Chromium, a dragged slider.

Needs Debian's Chromium (``apt-get install chromium``) and the ``playwright`` Python package
(never ``playwright install``: the test points Playwright at /usr/bin/chromium). The server
and the browser are always torn down, also when the test fails.
"""

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("CNNLAB_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOT = Path(__file__).resolve().parents[1] / ".executed" / "widgets_panel.png"

TRAIN_CELL = """\
import time, numpy as np, cnnlab, keras
from cnnlab.layers import TunableDropout
from cnnlab.widgets import train

class Slow(keras.callbacks.Callback):  # ~20 ms a batch: time to drag the slider mid-training
    def on_train_batch_begin(self, batch, logs=None):
        time.sleep(0.02)

x = np.random.default_rng(0).uniform(-2, 2, (16 * 400, 4)).astype("float32")
y = np.sin(x).sum(axis=1, keepdims=True)
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(32, activation="tanh"),
                          TunableDropout(0.1, seed=0), keras.layers.Dense(1)])
model.compile(optimizer=keras.optimizers.SGD(0.001), loss="mse")
panel = train(model, (x, y), epochs=2, batch_size=32, lr_range=(1e-4, 1.0), callbacks=[Slow()],
              autostart=True)
"""

CHECK_CELL = """\
import json
from cnnlab.widgets.live import wait_for
changed = wait_for(lambda: len(panel.changes) > 0, 60)
panel.wait(120)
first = int(panel.changes["step"].iloc[0]) if changed else -1
record = panel.record
print("RESULT", json.dumps({"first": first, "last": int(record["step"].max()),
      "before": record["lr"][record["step"] < first].unique().tolist(),
      "after": record["lr"][record["step"] >= first].unique().tolist()}))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, timeout: float = 5.0):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read() or b"null")


@pytest.fixture
def jupyterlab(tmp_path):
    """Yield (base url, token, folder) of a JupyterLab server; kill it and its kernels afterwards."""
    psutil = pytest.importorskip("psutil")
    port, token = _free_port(), secrets.token_hex(16)
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"), "CNNLAB_PROFILE": "smoke"}
    log = open(tmp_path / "server.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}",
         "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}",
         f"--ServerApp.root_dir={tmp_path}", "--allow-root", "--LabApp.news_url=",
         "--LabApp.extension_manager=readonly",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
        stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                _get(f"{base}/api/status?token={token}")
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("JupyterLab did not start:\n" + (tmp_path / "server.log").read_text()[-2000:])
                time.sleep(0.5)
        yield base, token, tmp_path
    finally:
        family = psutil.Process(server.pid).children(recursive=True) if server.poll() is None else []
        for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):  # SIGTERM: kernels shut down
            if server.poll() is not None:
                break
            try:
                os.killpg(server.pid, sig)
                server.wait(wait)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        _gone, alive = psutil.wait_procs(family, timeout=10)
        for process in alive:  # kernels run in their own session; never leave one behind
            process.kill()
        log.close()


def test_dragging_the_lr_slider_changes_the_rate_of_later_batches(jupyterlab):
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"Chromium not found at {CHROMIUM}: install it with `apt-get install chromium` "
                    "(Debian/Ubuntu), or set CNNLAB_CHROMIUM to its path.")
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    base, token, folder = jupyterlab
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(TRAIN_CELL),
                                               nbformat.v4.new_code_cell(CHECK_CELL)])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, folder / "panel.ipynb")

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=60_000)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1300})
            page.set_default_timeout(60_000)
            page.goto(f"{base}/lab/tree/panel.ipynb?token={token}")
            page.wait_for_selector(".jp-Notebook .jp-Cell")
            # Keys pressed before the kernel is connected are dropped: wait for it.
            page.get_by_text("Python 3 (ipykernel) | Idle").wait_for()
            cells = page.locator(".jp-Notebook .jp-Cell")
            cells.nth(0).locator(".cm-content").click()
            page.keyboard.press("Shift+Enter")

            handle = cells.nth(0).locator(".noUi-handle").first
            handle.wait_for()
            page.wait_for_function(  # training has begun: the progress line counts steps
                "() => [...document.querySelectorAll('.widget-html-content')]"
                ".some(e => /step [1-9]/.test(e.textContent))")
            track = cells.nth(0).locator(".noUi-target").first.bounding_box()
            knob = handle.bounding_box()
            page.mouse.move(knob["x"] + knob["width"] / 2, knob["y"] + knob["height"] / 2)
            page.mouse.down()
            page.mouse.move(track["x"] + track["width"] * 0.75, knob["y"] + knob["height"] / 2, steps=8)
            page.mouse.up()

            cells.nth(1).locator(".cm-content").click()
            page.keyboard.press("Shift+Enter")
            output = cells.nth(1).locator(".jp-OutputArea-output", has_text="RESULT")
            output.wait_for()
            cells.nth(1).locator(".jp-InputPrompt", has_text="[2]").wait_for()  # stopped and waited
            page.wait_for_timeout(1500)  # let the final redraw reach the page before the picture
            SCREENSHOT.parent.mkdir(exist_ok=True)
            cells.nth(0).screenshot(path=str(SCREENSHOT))
            result = json.loads(output.inner_text().split("RESULT", 1)[1])
        except Exception:
            SCREENSHOT.parent.mkdir(exist_ok=True)
            page.screenshot(path=str(SCREENSHOT.with_name("widgets_panel_failure.png")))
            raise
        finally:
            browser.close()

    # The slider is log-scaled over [1e-4, 1]: three quarters along is about 10 ** -1.
    assert 0 < result["first"] < result["last"], "no learning-rate change reached the training loop"
    assert result["before"] == [pytest.approx(0.001)]
    assert len(result["after"]) == 1 and 0.02 < result["after"][0] < 0.5
