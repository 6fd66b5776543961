"""Exercises and grading: self-checks for learners, exercise generation, a batch grader.

Learners use :func:`check` in test cells; instructors run ``cnnlab grade``. See
docs/exercises.md for the format of a solution notebook.
"""

from cnnlab.grading.checks import (
    AnswerError,
    CheckFailed,
    Checks,
    NotDoneYet,
    array_mismatch,
    check,
    check_array,
    check_model,
)
from cnnlab.grading.keras_checks import layer_params, model_mismatch

__all__ = [
    "AnswerError",
    "CheckFailed",
    "Checks",
    "NotDoneYet",
    "array_mismatch",
    "check",
    "check_array",
    "check_model",
    "layer_params",
    "model_mismatch",
]
