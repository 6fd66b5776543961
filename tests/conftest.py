"""Shared test set-up: quiet backends, the smoke profile, and a kernel pinned to this Python."""

import os
from pathlib import Path

# Before anything imports a backend or starts a kernel (kernels inherit this environment).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CNNLAB_PROFILE", "smoke")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")

from cnnlab.runtime import pin_kernel  # noqa: E402  (after the environment is set)

ROOT = Path(__file__).resolve().parent.parent

# Every notebook the tests execute runs in this interpreter, whatever kernelspecs the user has.
KERNEL_NAME = pin_kernel("cnnlab-test")

import pytest  # noqa: E402

ON_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require(available: bool, reason: str) -> None:
    """Skip the calling test when a real component it needs is missing; under CI=true, fail instead.

    CI installs everything a test needs (.ci/run, course.sh), so a missing piece there is a
    broken set-up, not a reason to pass silently.
    """
    if available:
        return
    if ON_CI:
        pytest.fail(f"{reason} (CI=true: CI must provide it; see .ci/run and course.sh)", pytrace=False)
    pytest.skip(reason)
