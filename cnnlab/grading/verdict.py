"""Judge a test outside the submission's kernel: plain data in, a verdict out.

Under ``cnnlab grade`` the checks of a test cell only record what they were given, as plain
data (:func:`to_plain`: numbers, nested lists, dtypes, shapes, strings, never pickles), and hand
it back in the cell's output. The grader records the same test cells once per exercise in a
trusted kernel running the solution (each test twice, the second time reseeded:
:func:`fixed_checks`),
and :func:`judge_test` compares the submission's values with the trusted expected values in
the grader's own process. :func:`strip_expected` removes the expected values of fixed checks
from the test code the submission's kernel receives. See docs/exercises.md.
"""

from __future__ import annotations

import ast
import json
import math

import numpy as np

from cnnlab.grading.checks import array_mismatch, equal_mismatch
from cnnlab.grading.keras_checks import description_mismatch

MIME = "text/x-cnnlab-checks"
MAX_VALUES = 1 << 21  # numbers one record may hold; a larger actual is judged too large
CHECK_METHODS = {"array", "equal", "model", "true"}
EXPECTED_ARGS = {"array": ("expected",), "equal": ("expected",),
                 "model": ("spec", "input_shape", "total_params")}
SHORTCUTS = {"check_array": "array", "check_model": "model"}


class Opaque:
    """A value the kernel could not hand back as plain data: equal to nothing."""

    def __init__(self, kind: str, text: str):
        self.kind, self.text = kind, text

    def __repr__(self) -> str:
        return f"<{self.kind} {self.text}>" if self.text else f"<{self.kind}>"


class Unreadable:
    """An actual value the kernel found unusable (not numbers); the grader reports ``reason``."""

    def __init__(self, reason: str):
        self.reason = reason


def to_plain(value, budget: list | None = None):
    """Return ``value`` as JSON-able plain data that :func:`from_plain` turns back into values."""
    budget = [MAX_VALUES] if budget is None else budget
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, Unreadable):
        return {"__opaque__": "reason", "text": value.reason}
    if isinstance(value, (int, float)) and type(value) in (int, float, bool):
        return value if not (isinstance(value, float) and not math.isfinite(value)) else {
            "__float__": repr(value)}
    if isinstance(value, np.generic):
        return {"__np__": "scalar", "dtype": value.dtype.str, "data": to_plain(value.item(), budget)}
    if isinstance(value, tuple):
        return {"__tuple__": [to_plain(v, budget) for v in value]}
    if isinstance(value, list):
        return [to_plain(v, budget) for v in value]
    if isinstance(value, dict):
        return {"__dict__": [[to_plain(k, budget), to_plain(v, budget)] for k, v in value.items()]}
    if isinstance(value, np.ndarray) or (hasattr(value, "__array__") and hasattr(value, "shape")):
        try:
            array = np.asarray(value)
        except Exception as error:  # a learner's object may fail in any way when converted
            return {"__opaque__": type(value).__name__, "text": f"unreadable ({type(error).__name__})"}
        if array.dtype.kind not in "biufUS":
            return {"__opaque__": f"array of {array.dtype}", "text": str(array.shape)}
        budget[0] -= array.size
        if budget[0] < 0:
            return {"__opaque__": "array too large to hand back", "text": str(array.shape)}
        data = array.astype(float).tolist() if array.dtype.kind == "f" else array.tolist()
        return {"__np__": "array", "dtype": array.dtype.str, "shape": list(array.shape),
                "data": _finite(data)}
    return {"__opaque__": type(value).__name__, "text": ""}


def _finite(data):
    if isinstance(data, list):
        return [_finite(v) for v in data]
    return {"__float__": repr(data)} if isinstance(data, float) and not math.isfinite(data) else data


def _unfinite(data):
    if isinstance(data, list):
        return [_unfinite(v) for v in data]
    return float(data["__float__"]) if isinstance(data, dict) else data


def from_plain(data):
    """Return the value :func:`to_plain` encoded (arrays as NumPy arrays, tuples as tuples)."""
    if isinstance(data, list):
        return [from_plain(v) for v in data]
    if not isinstance(data, dict):
        return data
    if "__float__" in data:
        return float(data["__float__"])
    if "__tuple__" in data:
        return tuple(from_plain(v) for v in data["__tuple__"])
    if "__dict__" in data:
        try:
            return {from_plain(k): from_plain(v) for k, v in data["__dict__"]}
        except TypeError:  # an unhashable key: keep the pairs
            return Opaque("dict", "")
    if data.get("__np__") == "scalar":
        return np.array(from_plain(data["data"]), dtype=np.dtype(data["dtype"]))[()]
    if data.get("__np__") == "array":
        dtype = np.dtype(data["dtype"])
        values = _unfinite(data["data"])
        return np.array(values, dtype=dtype).reshape(data["shape"]) if values != [] else np.zeros(
            data["shape"], dtype=dtype)
    if "__opaque__" in data:
        return Opaque(str(data["__opaque__"]), str(data.get("text", "")))
    return Opaque("unknown data", "")


def decode_output(outputs) -> list[dict]:
    """Return the blocks of checks a test cell's outputs hand back (see :data:`MIME`)."""
    blocks = []
    for output in outputs:
        text = output.get("data", {}).get(MIME) if output.get("output_type") == "display_data" else None
        if isinstance(text, str):
            try:
                block = json.loads(text)
            except ValueError:
                continue
            if isinstance(block, dict) and isinstance(block.get("checks"), list):
                blocks.append(block)
    return blocks


def _checks(blocks: list[dict]) -> list[dict]:
    return [dict(check, block=block.get("name", "")) for block in blocks
            for check in block["checks"] if isinstance(check, dict)]


def fixed_checks(first: list[dict], second: list[dict]) -> list[bool]:
    """Return, per check of the first trusted run of a test, whether its reseeded run gave the same
    expected value (then the value is fixed and the submission's kernel never needs it)."""
    a, b = _checks(first), _checks(second)
    if [(c.get("kind"), c.get("line")) for c in a] != [(c.get("kind"), c.get("line")) for c in b]:
        return [False] * len(a)
    return [c.get("kind") != "true" and json.dumps(c.get("expected"), sort_keys=True)
            == json.dumps(d.get("expected"), sort_keys=True) for c, d in zip(a, b)]


def stripped_lines(first: list[dict], fixed: list[bool]) -> list[int]:
    """Return the lines whose checks are all fixed: their expected values can be left out."""
    lines: dict[int, bool] = {}
    for check, ok in zip(_checks(first), fixed):
        lines[check["line"]] = lines.get(check["line"], True) and ok
    return sorted(line for line, ok in lines.items() if ok)


def _check_names(tree) -> set[str]:
    """Return the names bound by ``with check(...) as NAME`` in a cell."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.With, ast.AsyncWith)):
            for item in node.items:
                call, target = item.context_expr, item.optional_vars
                func = call.func if isinstance(call, ast.Call) else None
                called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
                if called == "check" and isinstance(target, ast.Name):
                    names.add(target.id)
    return names


def strip_expected(source: str, lines: list[int]) -> str:
    """Return a test cell's source with the expected arguments of the checks on ``lines`` made
    ``None``, keeping every line where it was (so recorded line numbers still match)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:  # IPython syntax in a test cell: left as it is (the verdict is unchanged)
        return source
    names = _check_names(tree)
    rows = source.split("\n")
    offsets = [0]
    for row in rows:
        offsets.append(offsets[-1] + len(row) + 1)

    def position(line: int, col: int) -> int:  # ast columns count UTF-8 bytes
        return offsets[line - 1] + len(rows[line - 1].encode()[:col].decode(errors="ignore"))

    edits = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or node.lineno not in lines:
            continue
        func = node.func
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in names:
            kind = func.attr if func.attr in EXPECTED_ARGS else None
        else:
            kind = SHORTCUTS.get(func.id) if isinstance(func, ast.Name) else None
        if kind is None:
            continue
        for target in node.args[1:2] + [k.value for k in node.keywords if k.arg in EXPECTED_ARGS[kind]]:
            edits.append((position(target.lineno, target.col_offset),
                          position(target.end_lineno, target.end_col_offset),
                          "None" + "\n" * (target.end_lineno - target.lineno)))
    for start, end, text in sorted(edits, reverse=True):
        source = source[:start] + text + source[end:]
    return source


def _problem(kind: str, actual, expected, options: dict) -> str | None:
    if kind == "array":
        if isinstance(actual, Opaque):
            return actual.text if actual.kind == "reason" else (
                f"your result could not be read as numbers ({actual!r})")
        return array_mismatch(actual, expected, options.get("rtol", 1e-6), options.get("atol", 1e-8))
    if kind == "equal":
        return equal_mismatch(actual, expected)
    if kind == "model":
        if not isinstance(actual, dict):
            return "the model could not be described"
        try:
            return description_mismatch(actual, expected, input_shape=options.get("input_shape"),
                                        total_params=options.get("total_params"))
        except (KeyError, TypeError, ValueError) as error:
            return f"the model could not be compared with the spec ({type(error).__name__}: {error})"
    return None


def judge_check(student: dict, trusted: dict, fixed: bool) -> str | None:
    """Return why the submission's check fails against the trusted one, or None when it passes."""
    kind = trusted.get("kind")
    if student.get("kind") != kind or student.get("line") != trusted.get("line"):
        return (f"the checks ran in another order than on the solution (a {student.get('kind')} check "
                f"at line {student.get('line')} where a {kind} check at line {trusted.get('line')} "
                "was expected)")
    if kind == "true":
        truth = student.get("truth")
        if isinstance(truth, str):
            return f"could not tell ({truth})"
        return None if truth is True else "this is not the case"
    expected = trusted.get("expected") if fixed else student.get("expected")
    options = from_plain(trusted.get("options", {}))
    return _problem(kind, from_plain(student.get("actual")), from_plain(expected),
                    options if isinstance(options, dict) else {})


def judge_test(student_blocks: list[dict], trusted_blocks: list[dict], fixed: list[bool]) -> dict:
    """Return ``{"failures": [...], "kernel_judged": n, "complete": bool}`` for one test cell."""
    got, want = _checks(student_blocks), _checks(trusted_blocks)
    failures, judged_in_kernel = [], 0
    for index, trusted in enumerate(want):
        label = trusted.get("what") or f"check {index + 1}"
        if index >= len(got):
            break
        problem = judge_check(got[index], trusted, fixed[index] if index < len(fixed) else False)
        judged_in_kernel += trusted.get("kind") == "true" or not fixed[index]
        if problem:
            hint = trusted.get("hint") or ""
            failures.append(f"FAIL  {label}: {problem}." + (f" Hint: {hint}" if hint else ""))
    if len(got) > len(want):
        failures.append(f"FAIL  the test recorded {len(got)} checks; the solution's run recorded "
                        f"{len(want)}")
    return {"failures": failures, "kernel_judged": judged_in_kernel, "complete": len(got) >= len(want)}


def solution_problems(blocks: list[dict]) -> list[str]:
    """Return the checks the solution itself fails in its trusted run (an authoring error)."""
    failures = []
    for check in _checks(blocks):
        problem = None if check.get("kind") == "true" and check.get("truth") is True else (
            "this is not the case" if check.get("kind") == "true" else
            _problem(check["kind"], from_plain(check.get("actual")), from_plain(check.get("expected")),
                     from_plain(check.get("options", {}))))
        if problem:
            failures.append(f"{check.get('what') or check.get('kind')}: {problem}")
    return failures
