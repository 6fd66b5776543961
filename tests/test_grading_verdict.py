"""Verdicts outside the kernel: plain data, stripped expected values, judging, in this process."""

from __future__ import annotations

import json

import numpy as np
import pytest

import cnnlab.grading.checks as checks_module
from cnnlab.grading import check
from cnnlab.grading.verdict import (
    MIME,
    Opaque,
    decode_output,
    fixed_checks,
    from_plain,
    judge_test,
    strip_expected,
    stripped_lines,
    to_plain,
)


@pytest.mark.parametrize("value", [
    3, 2.5, float("nan"), "relu", None, True, (2, 3), [1, (2,)], {"a": (1,), 3: "x"},
    np.float32(0.1), np.int64(7), np.array([[1, 2], [3, 4]]), np.array([np.inf, -1.0], dtype="float32"),
    np.zeros((0, 3)), np.array(["a", "b"]),
], ids=repr)
def test_plain_data_round_trips_through_json(value):
    back = from_plain(json.loads(json.dumps(to_plain(value))))
    if isinstance(value, np.ndarray):
        assert back.dtype == value.dtype and back.shape == value.shape
        assert np.array_equal(back, value, equal_nan=value.dtype.kind == "f")
    elif isinstance(value, float) and value != value:
        assert back != back
    else:
        assert back == value and type(back) is type(value)


def test_objects_and_huge_arrays_come_back_opaque_never_as_code():
    class Sneaky:
        def __reduce__(self):  # a pickle would run this; plain data never does
            raise AssertionError("unpickled")

    back = from_plain(json.loads(json.dumps(to_plain(Sneaky()))))
    assert isinstance(back, Opaque) and back != Sneaky()
    assert isinstance(from_plain(to_plain(np.zeros(3 << 20))), Opaque)
    assert "object" in repr(from_plain(to_plain(np.array([object()]))))


def _record(block_source: str, namespace: dict | None = None) -> list[dict]:
    """Run a test cell's source with the checks recording, as in a grading kernel."""
    published = []
    namespace = {"check": check, "np": np, **(namespace or {})}
    saved = checks_module.RECORDING
    checks_module.RECORDING = True
    import IPython.display

    original = IPython.display.publish_display_data
    IPython.display.publish_display_data = lambda data, **k: published.append(
        {"output_type": "display_data", "data": data})
    try:
        exec(compile(block_source, "<cell>", "exec"), namespace)
    finally:
        checks_module.RECORDING = saved
        IPython.display.publish_display_data = original
    return decode_output(published)


CELL = '''with check("softmax") as c:
    c.array(f(np.array([1.0, 2.0])), [0.26894142,
                                      0.73105858], rtol=1e-5, what="two scores")
    c.equal(np.shape(f(np.zeros(3))), expected=(3,), what="shape")
    c.true(bool(np.all(f(np.zeros(2)) > 0)), what="positive")
'''


def _softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum()


def test_a_recorded_cell_is_judged_against_the_trusted_run_not_in_the_kernel():
    trusted = _record(CELL, {"f": _softmax})
    fixed = fixed_checks(trusted, trusted)
    assert fixed == [True, True, False]  # c.true is never fixed: its truth comes from the kernel
    assert stripped_lines(trusted, fixed) == [2, 4]
    stripped = strip_expected(CELL, [2, 4])
    assert "0.26894142" not in stripped and "(3,)" not in stripped
    assert stripped.count("\n") == CELL.count("\n")  # lines stay where they were
    good = judge_test(_record(stripped, {"f": _softmax}), trusted, fixed)
    assert good == {"failures": [], "kernel_judged": 1, "complete": True}
    wrong = judge_test(_record(stripped, {"f": lambda z: np.full(len(z), 0.5)}), trusted, fixed)
    assert wrong["failures"][0].startswith("FAIL  two scores: value at index (0,) is 0.5, expected 0.268941")
    assert len(wrong["failures"]) == 1  # shape and positivity hold


def test_fewer_checks_or_checks_at_other_lines_fail():
    trusted = _record(CELL, {"f": _softmax})
    fixed = fixed_checks(trusted, trusted)
    silent = judge_test([], trusted, fixed)
    assert silent["complete"] is False and silent["failures"] == []
    moved = _record("\n" + CELL, {"f": _softmax})
    assert "another order" in judge_test(moved, trusted, fixed)["failures"][0]


def test_expected_values_that_change_when_reseeded_are_not_fixed():
    cell = 'with check("x") as c:\n    c.array(f(), np.random.random(2))\n'
    first = _record(cell, {"f": lambda: np.zeros(2)})
    second = _record(cell, {"f": lambda: np.zeros(2)})
    assert fixed_checks(first, second) == [False]
    assert stripped_lines(first, [False]) == []


def test_strip_leaves_other_calls_alone():
    source = 'y = np.array([1, 2])\nwith check("a") as c:\n    c.array(np.array([1]), np.array([9]))\n'
    assert strip_expected(source, [1, 3]) == (
        'y = np.array([1, 2])\nwith check("a") as c:\n    c.array(np.array([1]), None)\n')


def test_model_descriptions_are_compared_outside():
    keras = pytest.importorskip("keras")
    cell = ('with check("m") as c:\n'
            '    c.model(build(), [{"type": "Dense", "units": 4, "params": 12}], input_shape=(2,))\n')
    good = lambda: keras.Sequential([keras.Input((2,)), keras.layers.Dense(4)])  # noqa: E731
    bad = lambda: keras.Sequential([keras.Input((2,)), keras.layers.Dense(5)])  # noqa: E731
    trusted = _record(cell, {"build": good})
    fixed = fixed_checks(trusted, trusted)
    stripped = strip_expected(cell, stripped_lines(trusted, fixed))
    assert '"units": 4' not in stripped
    assert judge_test(_record(stripped, {"build": good}), trusted, fixed)["failures"] == []
    failures = judge_test(_record(stripped, {"build": bad}), trusted, fixed)["failures"]
    assert "units is 5, the spec asks for 4" in failures[0]


def test_the_learners_self_check_is_unchanged(capsys):
    with pytest.raises(checks_module.CheckFailed):
        with check("demo") as c:
            c.array([1.0], [2.0], what="one")
    assert "FAIL  one" in capsys.readouterr().out
    assert MIME not in capsys.readouterr().out
