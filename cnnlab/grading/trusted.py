"""The trusted side of a verdict: what the solution's own run records, once per exercise.

The grader runs each exercise's solution in a fresh kernel, every test cell twice (the second
time right after reseeding every random generator), and keeps, per test cell, the checks the
first run recorded, which of them are fixed (the same expected value both times) and the lines
whose expected values the submission's kernel therefore never receives. Submissions are judged
against this (:mod:`cnnlab.grading.verdict`). The result is cached in the output folder, keyed
by the solution's content, the grading code and the limits that shape a run.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from cnnlab.grading.verdict import fixed_checks, solution_problems, stripped_lines

CACHE_VERSION = 3


def cache_key(solution: Path, backend: str, profile: str) -> str:
    """Return a key for a solution's trusted data: its bytes, the grading code, backend, profile."""
    digest = hashlib.sha256(Path(solution).read_bytes())
    for module in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(module.read_bytes())
    digest.update(f"{backend}|{profile}|{CACHE_VERSION}".encode())
    return digest.hexdigest()[:20]


def summarise(tests: dict[str, float], found: dict[str, dict]) -> dict:
    """Return ``{test: {"blocks", "fixed", "strip", "problem"}}`` from the trusted run's events."""
    data = {}
    for gid in tests:
        a = found.get(gid)
        if a is not None:
            a = {**a, "blocks": a.get("blocks") or [], "reseeded": a.get("reseeded") or []}
        if a is None:
            data[gid] = {"blocks": [], "fixed": [], "strip": [],
                         "problem": "the solution's run did not reach this test (see the solution)"}
            continue
        problems = []
        if a.get("error"):
            problems.append("the solution's run of this test raised {}: {}".format(*a["error"]))
        problems += solution_problems(a["blocks"])
        fixed = fixed_checks(a["blocks"], a["reseeded"])
        data[gid] = {"blocks": a["blocks"], "fixed": fixed, "strip": stripped_lines(a["blocks"], fixed),
                     "problem": "; ".join(problems)[:1000] or None}
    return data


def trusted_data(solution: Path, exercise: str, run, cache: Path | None, backend: str,
                 profile: str) -> dict:
    """Return the trusted data of one exercise, from ``cache`` or by two runs of ``run``.

    ``run()`` grades the solution in a worker (mode ``trusted``) and returns
    ``(tests, {test: {"blocks", "error", "reseeded"}})``.
    """
    path = None
    if cache is not None:
        path = Path(cache) / f"{exercise}-{cache_key(solution, backend, profile)}.json"
        if path.is_file():
            try:
                return json.loads(path.read_text(encoding="utf-8"))
            except ValueError:
                pass  # a cut-short cache file: run again
    tests, found = run()
    data = summarise(tests, found)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps(data), encoding="utf-8")
        os.replace(temporary, path)
    return data
