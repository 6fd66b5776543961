"""Lesson 04's training panel as a learner meets it: real JupyterLab, headless Chromium, Run All, dragged sliders.

The test copies lesson 04, runs it with Run All in the smoke profile, and checks that no
cell blocks (the kernel goes idle and the lesson's ``panel.summary()`` cell reports training
still running), then drags the learning-rate and the dropout slider of the lesson's own panel.
In the page it times, from the ``pointerup`` of each release to the first drawing that marks
the change, the delay the README promises (at most 1 s), and the interval between drawings
of a newer training loss. A check cell run afterwards confirms in the kernel that the batches
after each change used the new values, then stops training.

Only two cells are added to the copy, both marked as injected: one before the panel cell makes
training last until the test releases it (10,000 epochs, holding before the last), so the
verdict never depends on how long training takes; one at the end checks and stops.

Needs Debian's Chromium (``apt-get install chromium``) and the ``playwright`` Python package
(never ``playwright install``: the test points Playwright at /usr/bin/chromium). Without
them it is skipped, except under ``CI=true``, where it fails with the reason. The server and
the browser are always torn down, also when the test fails.
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

ROOT = Path(__file__).resolve().parents[1]
LESSON = ROOT / "notebooks" / "04_deep_networks_and_regularization.ipynb"
CHROMIUM = os.environ.get("CNNLAB_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOT = ROOT / ".executed" / "widgets_panel.png"
PROMISE_MS = 1000  # README: a slider move is visible in the plot within 1 s of the release

HOLD_CELL = """\
# injected by tests/test_widgets_browser.py (not part of the lesson): the panel trains until the
# test releases it, however fast this machine is
import threading
import cnnlab.widgets

_release = threading.Event()


class _HoldBeforeLastEpoch(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 9_999:
            _release.wait()


_lesson_train = cnnlab.widgets.train


def _train_until_released(*args, **kwargs):
    kwargs.update(epochs=10_000, callbacks=[*kwargs.get("callbacks", ()), _HoldBeforeLastEpoch()])
    return _lesson_train(*args, **kwargs)


cnnlab.widgets.train = _train_until_released
"""

CHECK_CELL = """\
# injected by tests/test_widgets_browser.py: run again once both sliders were moved
import json


def _after(name):
    changes = panel.changes[panel.changes["name"] == name]
    if changes.empty:
        return None
    step, new = int(changes["step"].iloc[-1]), float(changes["new"].iloc[-1])
    record = panel.record
    return {"step": step, "new": new, "batches_after": int((record["step"] >= step).sum()),
            "after": sorted(set(record.loc[record["step"] >= step, name].round(7))),
            "before": sorted(set(record.loc[record["step"] < step, name].round(7)))}


if len(set(panel.changes["name"])) == 2:
    from cnnlab.widgets.live import wait_for

    wait_for(lambda: all(_after(n)["batches_after"] >= 3 for n in ("lr", "dropout")), 300)
    result = {name: _after(name) for name in ("lr", "dropout")}
    result["running"] = panel.running
    result["optimizer_lr"] = float(keras.ops.convert_to_numpy(panel.model.optimizer.learning_rate))
    result["dropout_rates"] = [l.get_rate() for l in cnnlab.layers.tunable_dropout_layers(panel.model)]
    _release.set()
    panel.stop()
    panel.wait(300)
    result["summary"] = panel.summary()
    print("RESULT", json.dumps(result))
else:
    print("CHECK waiting for both sliders")
"""

# In the page: when each slider is released, and when each drawing of the panel's figure lands.
RECORDER_JS = """() => {
  window.cnnlab = {releases: [], draws: [], marks: {}};
  document.addEventListener('pointerup', e => window.cnnlab.releases.push(e.timeStamp), true);
  const seen = new Set();
  new MutationObserver(() => {
    const svg = document.querySelector('svg.cnnlab-plot');
    if (!svg || seen.has(svg)) return;
    seen.add(svg);
    requestAnimationFrame(() => {  // painted in this frame
      const now = performance.now();
      window.cnnlab.draws.push([now, Number(svg.dataset.lastStep)]);
      for (const line of svg.querySelectorAll('line.change')) {
        const name = line.dataset.name;
        if (!(name in window.cnnlab.marks)) window.cnnlab.marks[name] = now;
      }
    });
  }).observe(document.body, {childList: true, subtree: true});
}"""


def require(available: bool, reason: str) -> None:
    """Skip when a real component is missing, except under ``CI=true``: there it is a failure."""
    if not available:
        (pytest.fail if os.environ.get("CI", "").lower() in ("1", "true") else pytest.skip)(reason)


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
    try:
        import psutil
    except ImportError:
        require(False, "psutil is missing: pip install psutil")
    port, token = _free_port(), secrets.token_hex(16)
    settings = tmp_path / "config" / "lab" / "user-settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    # Render every cell (no windowing), so the panel far down the lesson is in the page.
    (settings / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"), "CNNLAB_PROFILE": "smoke"}
    env.pop("CNNLAB_PANEL_MODE", None)
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


def lesson_copy(folder: Path) -> tuple[Path, int]:
    """Write lesson 04 with the two injected cells; return its path and the panel cell's index."""
    nb = nbformat.read(LESSON, as_version=4)
    panel = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and "cnnlab.widgets.train(" in c.source]
    assert len(panel) == 1, "lesson 04 must have one cell calling cnnlab.widgets.train(...)"
    assert "autostart=True" in nb.cells[panel[0]].source
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nb.cells.insert(panel[0], nbformat.v4.new_code_cell(HOLD_CELL))
    nb.cells.append(nbformat.v4.new_code_cell(CHECK_CELL))
    path = folder / LESSON.name
    nbformat.write(nb, path)
    return path, panel[0] + 1


def drag(page, slider, fraction: float) -> None:
    """Drag a noUiSlider's handle to ``fraction`` of its track, as a mouse does, and release it."""
    slider.scroll_into_view_if_needed()
    track = slider.bounding_box()
    knob = slider.locator(".noUi-handle").first.bounding_box()
    y = knob["y"] + knob["height"] / 2
    page.mouse.move(knob["x"] + knob["width"] / 2, y)
    page.mouse.down()
    page.mouse.move(track["x"] + track["width"] * fraction, y, steps=8)
    page.mouse.up()


def test_lesson_04_panel_under_run_all_applies_dragged_sliders_and_redraws_within_a_second(jupyterlab):
    require(os.path.exists(CHROMIUM), f"Chromium not found at {CHROMIUM}: install it with "
            "`apt-get install chromium` (Debian/Ubuntu), or set CNNLAB_CHROMIUM to its path.")
    try:
        from playwright import sync_api
    except ImportError:
        require(False, "the playwright package is missing: pip install playwright (no browser download)")
    base, token, folder = jupyterlab
    path, panel_index = lesson_copy(folder)

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=60_000)
        page = browser.new_page(viewport={"width": 1400, "height": 1300})
        try:
            page.set_default_timeout(60_000)
            page.goto(f"{base}/lab/tree/{path.name}?token={token}")
            page.wait_for_selector(".jp-Notebook .jp-Cell")
            page.get_by_text("Python 3 (ipykernel) | Idle").wait_for()  # clicks before it are lost
            page.evaluate(RECORDER_JS)
            page.get_by_role("menuitem", name="Run", exact=True).click()
            page.locator(".lm-Menu-itemLabel").get_by_text("Run All Cells", exact=True).click()

            cells = page.locator(".jp-Notebook .jp-Cell")
            panel_cell = cells.nth(panel_index)
            sliders = panel_cell.locator(".noUi-target")
            sliders.nth(1).wait_for(timeout=600_000)  # the lesson's earlier cells run first
            page.wait_for_function("() => window.cnnlab.draws.some(d => d[1] > 0)", timeout=300_000)
            # Run All went past the panel: the lesson's summary cell ran while training went on.
            summary = page.locator(".jp-OutputArea-output", has_text="still running in the background")
            summary.first.wait_for(timeout=300_000)
            last = cells.nth(cells.count() - 1)  # the injected check cell: Run All reached the end
            last.locator(".jp-OutputArea-output", has_text="CHECK waiting").wait_for(timeout=300_000)

            drag(page, sliders.nth(0), 0.75)  # learning rate, log scale over [1e-5, 1]: ~0.056
            page.wait_for_function("() => 'lr' in window.cnnlab.marks", timeout=120_000)
            drag(page, sliders.nth(1), 0.0)   # dropout, as the lesson says: to 0
            page.wait_for_function("() => 'dropout' in window.cnnlab.marks", timeout=120_000)
            page.wait_for_timeout(3000)  # watch the loss curve a while longer (measured, not judged)
            timings = page.evaluate("() => window.cnnlab")

            last.locator(".cm-content").click()
            page.keyboard.press("Shift+Enter")
            output = last.locator(".jp-OutputArea-output", has_text="RESULT")
            output.wait_for(timeout=600_000)
            result = json.loads(output.inner_text().split("RESULT", 1)[1])
            page.wait_for_timeout(500)  # the final drawing, for the picture
            SCREENSHOT.parent.mkdir(exist_ok=True)
            panel_cell.screenshot(path=str(SCREENSHOT))
        except Exception:
            SCREENSHOT.parent.mkdir(exist_ok=True)
            page.screenshot(path=str(SCREENSHOT.with_name("widgets_panel_failure.png")), full_page=True)
            raise
        finally:
            browser.close()

    releases = timings["releases"][-2:]
    delays = {name: timings["marks"][name] - released
              for name, released in zip(("lr", "dropout"), releases)}
    draws = [(t, step) for t, step in timings["draws"] if t >= releases[0] - 5000]
    newer = [t for (t, step), (_, before) in zip(draws[1:], draws) if step > before]
    gaps = [b - a for a, b in zip(newer, newer[1:])]
    print(f"release to redraw: lr {delays['lr']:.0f} ms, dropout {delays['dropout']:.0f} ms; "
          f"training loss redrawn every {sorted(gaps)[len(gaps) // 2]:.0f} ms (median), "
          f"max {max(gaps):.0f} ms over {len(gaps)} redraws")

    assert result["running"], "training had ended before the check: the hold did not work"
    lr, dropout = result["lr"], result["dropout"]
    assert lr["before"] == [pytest.approx(0.001)] and 0.03 < lr["new"] < 0.1
    assert lr["after"] == [pytest.approx(lr["new"])] and lr["batches_after"] >= 3
    assert result["optimizer_lr"] == pytest.approx(lr["new"], rel=1e-5)
    assert dropout["before"] == [pytest.approx(0.5)] and dropout["new"] == 0.0
    assert dropout["after"] == [0.0] and dropout["batches_after"] >= 3
    assert result["dropout_rates"] and set(result["dropout_rates"]) == {0.0}
    assert result["summary"].startswith("stopped") and f"step {lr['step']}: lr 0.001 ->" in result["summary"]
    assert all(0 < delay <= PROMISE_MS for delay in delays.values()), delays
    assert sorted(gaps)[len(gaps) // 2] <= 1000, gaps
