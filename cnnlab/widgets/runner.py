"""Where the training loop runs while the panel stays clickable: a thread, or the cell itself.

A cell that calls ``fit`` keeps the kernel busy, and the kernel handles widget events (slider
moves, clicks) only between cells, so they would all arrive after training. Two ways out:

``"thread"`` (JupyterLab, Jupyter Notebook, VS Code, scripts)
    ``fit`` runs in a background thread; the cell returns at once and the kernel handles
    widget events while the thread trains. Widget updates sent from the thread (plot,
    progress) are shown by these front ends.
``"cell"`` (Colab)
    Colab does not show widget updates sent from a background thread, so ``fit`` runs in
    the cell, and before each batch (at most every ``poll_every`` seconds) the loop hands
    the kernel a moment to handle the widget messages that are waiting
    (:func:`pump_ui_events`). Messages that start new cells stay queued until training ends.

``mode="auto"`` picks ``"cell"`` on Colab and ``"thread"`` everywhere else.
"""

from __future__ import annotations

import sys
import threading
import time
import traceback

from cnnlab.runtime import frontend


def pick_mode(mode: str = "auto") -> str:
    """Return the run mode to use: 'cell' on Colab, 'thread' elsewhere, or ``mode`` if given."""
    if mode not in ("auto", "thread", "cell"):
        raise ValueError(f"mode must be 'auto', 'thread' or 'cell', got {mode!r}")
    if mode != "auto":
        return mode
    return "cell" if frontend() == "colab" else "thread"


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
        """Start training: in a thread, or here (returning when training ends) in 'cell' mode."""
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
            self._finished.set()
            if self._on_done is not None:
                self._on_done(self)

    @property
    def running(self) -> bool:
        """True while training has started and not finished."""
        return self._thread is not None and not self._finished.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until training ends; return False if ``timeout`` seconds passed first."""
        if self._thread is None and not self._finished.is_set():
            return True
        return self._finished.wait(timeout)


class UIPump:
    """Lets the kernel handle waiting widget messages from inside a running cell ('cell' mode)."""

    def __init__(self, poll_every: float = 0.1):
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

    handlers["execute_request"] = hold
    try:
        for _ in range(rounds):
            result = kernel.do_one_iteration()
            if hasattr(result, "__await__"):
                _run_coroutine(result)
    finally:
        handlers["execute_request"] = original
        sys.stdout.flush()
        sys.stderr.flush()
    for args, kwargs in held:
        _requeue(kernel, original, args, kwargs)


def _run_coroutine(coroutine) -> None:
    """Drive a coroutine that does not really wait (ipykernel 6's do_one_iteration) to its end."""
    try:
        while True:
            coroutine.send(None)
    except StopIteration:
        pass


def _requeue(kernel, handler, args, kwargs) -> None:
    """Put a held ``execute_request`` back so the kernel runs it once the current cell ends."""
    stream, ident, parent = args[:3]

    async def replay():
        try:
            kernel.set_parent(ident, parent, "shell")
        except TypeError:  # ipykernel 5 has no channel argument
            kernel.set_parent(ident, parent)
        result = handler(*args, **kwargs)
        if hasattr(result, "__await__"):
            await result
        sys.stdout.flush()
        sys.stderr.flush()

    if hasattr(kernel, "schedule_dispatch"):  # ipykernel 6: behind the messages already queued
        kernel.schedule_dispatch(replay)
    else:
        kernel.io_loop.add_callback(replay)
