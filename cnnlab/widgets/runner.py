"""Where the training loop runs while the panel stays clickable: a thread, the cell, or to the end.

A cell that calls ``fit`` keeps the kernel busy, and the kernel handles widget events (slider
moves, clicks) only between cells, so they would all arrive after training. Per front end:

JupyterLab, Jupyter Notebook 7, VS Code (``mode="thread"``)
    ``fit`` runs in a background thread; the cell returns at once (under Run All the next
    cells run too) and the kernel handles widget events while the thread trains. Checked by
    ``tests/test_widgets_browser.py`` in JupyterLab; Notebook 7 and VS Code send cells the
    same way (``allow_stdin`` true), they were not driven by a test.
Colab (``mode="cell"``)
    Colab does not show widget updates sent from a background thread, so ``fit`` runs in the
    cell, and before each batch (at most every ``poll_every`` seconds, and all the time while
    paused) the loop lets the kernel handle the widget messages waiting
    (:func:`pump_ui_events`). Requests to run other cells wait until training ends. The pump
    needs ipykernel 5 or 6 (Colab ships 6.17.1); it is checked against a real ipykernel 6.17.1
    kernel with ipywidgets 7.7.1 by ``tests/test_widgets_kernel.py``, not in Colab itself. On
    ipykernel 7 it does nothing, so use the thread there.
papermill, nbval, nbconvert, scripts (``mode="block"``)
    No one can click, and a kernel driven by papermill is shut down after the last cell, so
    ``train(..., autostart=True)`` trains to the end before the cell returns, and re-raises a
    training error. :func:`headless_reason` tells these runs apart: not an IPython kernel (a
    script, the terminal), or a cell sent with ``allow_stdin`` false. nbclient (papermill,
    nbconvert ``--execute``) and nbval send every cell that way, because nothing can answer
    ``input()``; the live front ends above send it true. The environment variable
    ``CNNLAB_PANEL_MODE`` (``thread``, ``cell`` or ``block``) overrides the guess.

``mode="auto"`` picks ``"cell"`` on Colab, ``"block"`` headless and ``"thread"`` elsewhere.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import traceback

from cnnlab.runtime import frontend


MODES = ("thread", "cell", "block")


def pick_mode(mode: str = "auto") -> str:
    """Return the run mode: ``mode`` if given, else 'cell' on Colab, 'block' headless, 'thread' elsewhere."""
    if mode not in ("auto", *MODES):
        raise ValueError(f"mode must be 'auto', 'thread', 'cell' or 'block', got {mode!r}")
    if mode != "auto":
        return mode
    forced = os.environ.get("CNNLAB_PANEL_MODE", "").strip()
    if forced:
        if forced not in MODES:
            raise ValueError(f"CNNLAB_PANEL_MODE must be 'thread', 'cell' or 'block', got {forced!r}; "
                             "unset it to let the panel choose.")
        return forced
    if frontend() == "colab":
        return "cell"
    return "block" if headless_reason() else "thread"


def headless_reason() -> str | None:
    """Return why no one can use the widgets of the cell running now, or None if a front end sent it."""
    try:
        from IPython import get_ipython
    except ImportError:
        return "IPython is not installed: a script"
    shell = get_ipython()
    if shell is None:
        return "not running under IPython: a script"
    kernel = getattr(shell, "kernel", None)
    if kernel is None:
        return "IPython without a Jupyter kernel (a terminal): widgets cannot be shown"
    if not getattr(kernel, "_allow_stdin", True):
        return ("the cell came from a client that cannot answer input() (allow_stdin false): "
                "papermill, nbclient, nbconvert --execute or nbval")
    return None


class TrainingRun:
    """One call of a training function, in a background thread or in the caller; keeps its error."""

    def __init__(self, target, *, mode: str, on_done=None):
        self.mode = mode
        self._target = target
        self._on_done = on_done
        self.error: BaseException | None = None
        self.traceback = ""
        self._thread: threading.Thread | None = None
        self._finished = threading.Event()

    def start(self) -> None:
        """Start training: in a thread, or here (returning when training ends) in 'cell' and 'block' mode."""
        if self.mode == "thread":
            self._thread = threading.Thread(target=self._run, name="cnnlab-training", daemon=True)
            self._thread.start()
        else:
            self._run()

    def _run(self) -> None:
        try:
            self._target()
        except BaseException as error:  # noqa: BLE001 - kept and shown, never lost in a thread
            self.error = error
            self.traceback = "".join(traceback.format_exception(error))
        finally:
            try:
                if self._on_done is not None:
                    self._on_done(self)  # the panel's final redraw: done before wait() returns
            finally:
                self._finished.set()

    @property
    def running(self) -> bool:
        """True while training has started and not finished."""
        return self._thread is not None and not self._finished.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until training ends; return False if ``timeout`` seconds passed first."""
        if self._thread is None and not self._finished.is_set():
            return True
        return self._finished.wait(timeout)


class Redrawer:
    """Calls ``draw`` every ``interval`` seconds, and at once when :meth:`poke` d: in its own thread, or from :meth:`tick`.

    In its own thread (``mode="thread"``) the drawing never delays a batch by more than the
    moment it holds the GIL; in ``mode="cell"`` (Colab shows no updates from other threads)
    the training loop calls :meth:`tick` before each batch instead. Drawing stays within
    ``budget`` of one core: a drawing that took ``t`` seconds waits ``t / budget`` before the
    next one if that is longer than ``interval`` (only on a machine where a drawing takes more
    than 10 ms, so the 1 s promise holds up to 20 ms a drawing).
    """

    def __init__(self, draw, interval: float, budget: float = 0.02):
        self._draw = draw
        self.interval = interval
        self.budget = budget
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._next = 0.0
        self.count = 0          # drawings made
        self.busy = 0.0         # seconds spent drawing
        self.error: BaseException | None = None

    def start(self, threaded: bool) -> None:
        """Begin drawing: in a new thread if ``threaded``, else whenever :meth:`tick` finds it due."""
        self._stop.clear()
        self._next = time.monotonic() + self.interval
        if threaded:
            self._thread = threading.Thread(target=self._loop, name="cnnlab-panel-draw", daemon=True)
            self._thread.start()

    def poke(self) -> None:
        """Ask for a drawing now (a change was applied) instead of at the next interval."""
        self._next = 0.0
        self._wake.set()

    def tick(self) -> None:
        """Draw here if a drawing is due (for the loop that trains in the cell)."""
        if self._thread is None and not self._stop.is_set() and time.monotonic() >= self._next:
            self._draw_once()

    def stop(self) -> None:
        """Stop drawing and wait for a drawing in progress to end."""
        self._stop.set()
        self._wake.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(10)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(max(0.0, self._next - time.monotonic()))
            self._wake.clear()
            if not self._stop.is_set():
                self._draw_once()

    def _draw_once(self) -> None:
        began = time.perf_counter()
        try:
            self._draw()
        except Exception as error:  # noqa: BLE001 - a drawing bug must not stop training
            if self.error is None:
                self.error = error
                traceback.print_exception(error)
        took = time.perf_counter() - began
        self.count += 1
        self.busy += took
        self._next = time.monotonic() + max(self.interval, took / self.budget)


class UIPump:
    """Lets the kernel handle waiting widget messages from inside a running cell ('cell' mode)."""

    def __init__(self, poll_every: float = 0.2):
        self.poll_every = poll_every
        self._last = 0.0
        self._kernel = _kernel()

    @property
    def available(self) -> bool:
        """True if this kernel can be pumped (ipykernel 5 or 6, as on Colab)."""
        return self._kernel is not None and hasattr(self._kernel, "do_one_iteration")

    def __call__(self) -> None:
        """Handle the widget messages waiting now, at most every ``poll_every`` seconds."""
        now = time.monotonic()
        if not self.available or now - self._last < self.poll_every:
            return
        self._last = now
        pump_ui_events(self._kernel)


def _kernel():
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    return getattr(shell, "kernel", None)


def pump_ui_events(kernel, rounds: int = 10) -> None:
    """Handle up to ``rounds`` waiting shell messages, holding back any that would run a cell.

    ipykernel 5 and 6 (Colab) read shell messages in ``do_one_iteration``. Requests to run
    code are kept aside and queued again when the pump ends, so a cell the user starts
    during training runs after it, in order, as it would have without the pump.
    """
    handlers = kernel.shell_handlers
    original = handlers["execute_request"]
    held = []

    def hold(*args, **kwargs):
        held.append((args, kwargs))

    # Each handled message becomes the kernel's "parent": put back the training cell's, or the
    # cell's later output and its end-of-cell status would be sent as another request's.
    parent = _get_parent(kernel)
    handlers["execute_request"] = hold
    try:
        for _ in range(rounds):
            queue = getattr(kernel, "msg_queue", None)
            if queue is not None:  # ipykernel 6: stop as soon as nothing waits (cheap when idle)
                kernel.shell_stream.flush()
                if queue.empty():
                    break
            result = kernel.do_one_iteration()
            if hasattr(result, "__await__"):
                _run_coroutine(result)
    finally:
        handlers["execute_request"] = original
        sys.stdout.flush()
        sys.stderr.flush()
        _set_parent(kernel, *parent)
    for args, kwargs in held:
        _requeue(kernel, original, args, kwargs)


_helper_loop = None


def _run_coroutine(coroutine, timeout: float = 10.0) -> None:
    """Run one of the kernel's coroutines to its end while the kernel's own loop is busy with this cell.

    The kernel's loop runs the cell that called us and cannot be re-entered, and ipykernel 6
    awaits a future that its control thread resolves, so the coroutine runs on a second loop
    in a helper thread; this thread waits for it, so handlers still run one at a time.
    """
    global _helper_loop
    if _helper_loop is None:
        import asyncio

        _helper_loop = asyncio.new_event_loop()
        threading.Thread(target=_helper_loop.run_forever, name="cnnlab-ui-pump", daemon=True).start()
    import asyncio

    asyncio.run_coroutine_threadsafe(coroutine, _helper_loop).result(timeout)


def _get_parent(kernel):
    idents = getattr(kernel, "_parent_ident", None)
    if isinstance(idents, dict):  # ipykernel 6
        return idents.get("shell"), kernel.get_parent("shell")
    return idents, getattr(kernel, "_parent_header", {})  # ipykernel 5


def _set_parent(kernel, ident, parent) -> None:
    try:
        kernel.set_parent(ident, parent, "shell")
    except TypeError:  # ipykernel 5 has no channel argument
        kernel.set_parent(ident, parent)


def _publish_status(kernel, status: str) -> None:
    try:
        kernel._publish_status(status, "shell")
    except TypeError:  # ipykernel 5
        kernel._publish_status(status)


def _requeue(kernel, handler, args, kwargs) -> None:
    """Put a held ``execute_request`` back so the kernel runs it once the current cell ends."""
    stream, ident, parent = args[:3]

    async def replay():
        _set_parent(kernel, ident, parent)
        _publish_status(kernel, "busy")  # the held request's first busy/idle went out when held
        result = handler(*args, **kwargs)
        if hasattr(result, "__await__"):
            await result
        sys.stdout.flush()
        sys.stderr.flush()
        _publish_status(kernel, "idle")

    if hasattr(kernel, "schedule_dispatch"):  # ipykernel 6: behind the messages already queued
        kernel.schedule_dispatch(replay)
    else:
        kernel.io_loop.add_callback(replay)
