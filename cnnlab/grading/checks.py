"""Self-checks for learners: one ``with check(...)`` block per test cell.

Each line in the block is one check. The block prints a line per check, pass or fail with a
hint in plain words, then raises :class:`CheckFailed` if anything failed, so nbgrader and
``cnnlab grade`` mark the cell as failed. An unanswered stub (``NotImplementedError``) prints
"not done yet"; it raises :class:`NotDoneYet` only under a grader, so a learner's untouched
notebook runs top to bottom without errors.
"""

from __future__ import annotations

import os

import numpy as np

from cnnlab.grading.keras_checks import model_mismatch

HIDDEN_NOTE = "Hidden tests may check more when your work is graded."
GRADING = False  # True inside `cnnlab grade` kernels (set by cnnlab.grading.sandbox)
# True inside `cnnlab grade` kernels too: checks then only record plain data, handed back in the
# cell's output, and the grader decides outside the kernel (cnnlab.grading.verdict).
RECORDING = False


def grading() -> bool:
    """Return True when a grader runs the notebook: ``cnnlab grade``, or nbgrader's autograde/validate."""
    return GRADING or os.environ.get("NBGRADER_EXECUTION", "") in ("autograde", "validate")


class CheckFailed(AssertionError):
    """A test cell's checks did not all pass; the printed lines above say which and why."""

    def _render_traceback_(self):
        # IPython shows these lines instead of a traceback: the report is already printed.
        return [f"CheckFailed: {self}"]


class AnswerError(CheckFailed):
    """The learner's code raised an exception while the checks ran."""

    def _render_traceback_(self):
        return [f"AnswerError: {self}"]


class NotDoneYet(CheckFailed):
    """The learner's code still raises NotImplementedError (the exercise's stub)."""

    def _render_traceback_(self):
        return [f"NotDoneYet: {self}"]


def _as_numbers(value, role: str) -> tuple[np.ndarray | None, str | None]:
    """Return (array, None), or (None, reason) when value is not an array of numbers."""
    try:
        array = np.asarray(value)
    except Exception as error:  # a learner's object may fail in any way when converted
        return None, f"{role} could not be read as an array ({type(error).__name__}: {error})"
    if array.dtype.kind not in "biuf":
        return None, (
            f"{role} holds {array.dtype} values ({type(value).__name__}); "
            "expected numbers (int, float or bool)"
        )
    return array, None


def array_mismatch(actual, expected, rtol: float = 1e-6, atol: float = 1e-8) -> str | None:
    """Return the first way ``actual`` differs from ``expected`` (shape, dtype, values), or None.

    >>> array_mismatch([0.1, 0.2], [0.1, 0.2]) is None
    True
    >>> array_mismatch([1, 2, 3], [[1, 2, 3]])
    'shape is (3,), expected (1, 3)'
    >>> array_mismatch([0.0, 0.5], [0.0, 0.4], atol=0.01)
    'value at index (1,) is 0.5, expected 0.4 (tolerance: atol=0.01, rtol=1e-06)'
    """
    got, reason = _as_numbers(actual, "your result")
    if reason:
        return reason
    want = np.asarray(expected, dtype=float)
    if got.shape != want.shape:
        return f"shape is {got.shape}, expected {want.shape}"
    got = got.astype(float)
    if np.isnan(got).any() and not np.isnan(want).any():
        where = tuple(int(i) for i in np.argwhere(np.isnan(got))[0])
        return f"value at index {where} is nan (not a number); look for a division by zero or an overflow"
    bad = ~(np.abs(got - want) <= atol + rtol * np.abs(want))
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0]) if got.ndim else ()
        return (
            f"value at index {where} is {got[where]:.6g}, expected {want[where]:.6g} "
            f"(tolerance: atol={atol:g}, rtol={rtol:g})"
        )
    return None


def equal_mismatch(actual, expected) -> str | None:
    """Return how ``actual`` differs from ``expected`` (``==``), or None when they are equal."""
    try:
        same = bool(actual == expected)
    except Exception:  # an array compared with a scalar is ambiguous: that is a mismatch
        same = False
    return None if same else f"got {actual!r}, expected {expected!r}"


def _caller_line() -> int:
    """Return the line of the test cell that called a check (skipping this module's frames)."""
    import sys

    frame = sys._getframe(2)
    while frame is not None and frame.f_code.co_filename == __file__:
        frame = frame.f_back
    return frame.f_lineno if frame is not None else 0


class Checks:
    """The block ``check`` opens: each method records one check (see docs/exercises.md)."""

    def __init__(self, name: str):
        self.name = name
        self.results: list[tuple[bool, str, str]] = []
        self.recorded: list[dict] = []  # under `cnnlab grade`: plain data for the grader

    def _keep(self, kind: str, actual, expected, options: dict, what: str, hint: str) -> bool:
        """Record one check as plain data (under ``cnnlab grade``); the grader judges it."""
        from cnnlab.grading.verdict import to_plain

        self.recorded.append({"kind": kind, "line": _caller_line(), "actual": to_plain(actual),
                              "expected": to_plain(expected), "options": to_plain(options),
                              "what": what, "hint": hint})
        return True

    def _record(self, problem: str | None, what: str, hint: str) -> bool:
        label = what or f"check {len(self.results) + 1}"
        if problem is None:
            self.results.append((True, label, ""))
        else:
            self.results.append((False, label, f"{problem}." + (f" Hint: {hint}" if hint else "")))
        return problem is None

    def array(self, actual, expected, *, rtol: float = 1e-6, atol: float = 1e-8,
              what: str = "", hint: str = "") -> bool:
        """Record whether ``actual`` matches ``expected`` in shape, dtype kind and values."""
        if RECORDING:
            from cnnlab.grading.verdict import Unreadable

            got, reason = _as_numbers(actual, "your result")
            return self._keep("array", got if reason is None else Unreadable(reason),
                              None if expected is None else np.asarray(expected, dtype=float),
                              {"rtol": rtol, "atol": atol}, what, hint)
        return self._record(array_mismatch(actual, expected, rtol, atol), what, hint)

    def equal(self, actual, expected, *, what: str = "", hint: str = "") -> bool:
        """Record whether ``actual == expected`` (ints, strings, shapes)."""
        if RECORDING:
            return self._keep("equal", actual, expected, {}, what, hint)
        return self._record(equal_mismatch(actual, expected), what, hint)

    def true(self, condition, *, what: str = "", hint: str = "") -> bool:
        """Record whether ``condition`` holds."""
        if RECORDING:
            try:
                truth = bool(condition)
            except Exception as error:
                truth = f"{type(error).__name__}: {error}"
            self._keep("true", condition, None, {}, what, hint)
            self.recorded[-1]["truth"] = truth
            return True
        try:
            holds = bool(condition)
        except Exception as error:
            return self._record(f"could not tell ({type(error).__name__}: {error})", what, hint)
        return self._record(None if holds else "this is not the case", what, hint)

    def model(self, model, spec, *, input_shape=None, total_params=None,
              what: str = "", hint: str = "") -> bool:
        """Record whether a Keras model matches ``spec`` (see :func:`model_mismatch`)."""
        if RECORDING:
            from cnnlab.grading.keras_checks import describe_model

            return self._keep("model", describe_model(model), spec,
                              {"input_shape": input_shape, "total_params": total_params},
                              what or "the model matches the spec", hint)
        problem = model_mismatch(model, spec, input_shape=input_shape, total_params=total_params)
        return self._record(problem, what or "the model matches the spec", hint)

    def lines(self) -> list[str]:
        """Return one line per check run so far: PASS or FAIL, what, and why."""
        return [f"{'PASS' if ok else 'FAIL'}  {label}" + (f": {msg}" if msg else "")
                for ok, label, msg in self.results]

    def report(self) -> str:
        """Return the lines the block prints: one per check, then a summary."""
        lines = self.lines()
        failed = sum(not ok for ok, _, _ in self.results)
        if failed:
            lines.append(f"{self.name}: {failed} of {len(self.results)} checks failed.")
        else:
            lines.append(f"{self.name}: all {len(self.results)} checks pass. {HIDDEN_NOTE}")
        return "\n".join(lines)


class check:
    """Open a block of checks named ``name``: ``with check("softmax") as c: c.array(...)``."""

    def __init__(self, name: str):
        self.checks = Checks(name)

    def __enter__(self) -> Checks:
        return self.checks

    def __exit__(self, kind, error, traceback) -> bool:
        name = self.checks.name
        if RECORDING:
            self._hand_back(kind, error)
        if kind is not None and kind.__name__ == "StdinNotImplementedError":
            print(f"ERROR  {name}: your code calls input(). Checks and graders cannot type an "
                  "answer: pass the value as an argument instead.")
            raise AnswerError(f"{name}: your code calls input(), which a grader cannot answer; "
                              "remove the call") from None
        if kind is NotImplementedError:  # exactly the stub's exception, not a subclass
            print(f"NOT DONE YET  {name}: your code still raises NotImplementedError. "
                  "Replace `raise NotImplementedError()` with your answer, run that cell, "
                  "then run this one again.")
            if grading():  # a grader must see a failure; a learner needs no red traceback
                raise NotDoneYet(f"{name} is not done yet") from None
            return True
        if kind is not None and not issubclass(kind, Exception):
            return False  # KeyboardInterrupt, SystemExit: not ours to swallow
        if kind is not None:
            for line in self.checks.lines():
                print(line)
            print(f"ERROR  {name}: your code raised {kind.__name__}: {error}. "
                  "The checks after it did not run; fix the error and run this cell again.")
            raise AnswerError(f"{name}: your code raised {kind.__name__}: {error}") from None
        if RECORDING:  # the grader decides, outside this kernel
            return False
        print(self.checks.report())
        failed = [label for ok, label, _ in self.checks.results if not ok]
        if failed:
            raise CheckFailed(f"{name}: failed {', '.join(failed)}")
        return False


    def _hand_back(self, kind, error) -> None:
        """Publish the recorded checks as one display output for the grader (plain JSON text)."""
        import json

        from IPython.display import publish_display_data

        from cnnlab.grading.verdict import MIME

        raised = None if kind is None else f"{kind.__name__}: {error}"[:500]
        block = {"name": self.checks.name, "checks": self.checks.recorded, "raised": raised}
        publish_display_data({MIME: json.dumps(block), "text/plain": f"[{self.checks.name}: "
                              f"{len(self.checks.recorded)} checks recorded for the grader]"})


def check_array(actual, expected, *, rtol: float = 1e-6, atol: float = 1e-8,
                what: str = "the result", hint: str = "") -> None:
    """Run one array check as its own block; print the verdict; raise CheckFailed on a mismatch."""
    with check(what) as c:
        c.array(actual, expected, rtol=rtol, atol=atol, what=what, hint=hint)


def check_model(model, spec, *, input_shape=None, total_params=None,
                what: str = "the model", hint: str = "") -> None:
    """Run one model-spec check as its own block; print the verdict; raise CheckFailed on a mismatch."""
    with check(what) as c:
        c.model(model, spec, input_shape=input_shape, total_params=total_params, what=what, hint=hint)
