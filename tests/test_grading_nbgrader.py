"""nbgrader compatibility, with the real nbgrader from PyPI (the `dev` extra).

nbgrader's own `generate_assignment` takes every notebook of `solutions/` as its source and
releases our generated exercises, and its `autograde` gives each solved notebook full marks and
each untouched exercise zero.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from cnnlab.grading.notebook_source import cell_kind, grade_id, source_text

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))


def _nbgrader(course: Path, *args: str) -> subprocess.CompletedProcess:
    nbgrader = Path(sys.executable).with_name("nbgrader")
    if not nbgrader.exists():
        pytest.fail("nbgrader is not installed: pip install -e '.[dev]' (it is in the dev extra)")
    env = {**os.environ, "PATH": f"{nbgrader.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run([str(nbgrader), *args, f"--CourseDirectory.root={course}"], cwd=course,
                          env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.notebook
def test_nbgrader_generates_the_assignment_and_autogrades_full_marks_and_zero(tmp_path):
    course = tmp_path / "course"
    (course / "source" / "ps1").mkdir(parents=True)
    for solution in SOLUTIONS:
        shutil.copy(solution, course / "source" / "ps1")
    done = _nbgrader(course, "generate_assignment", "ps1", "--force")
    assert done.returncode == 0, done.stderr[-2000:]

    for solution in SOLUTIONS:  # nbgrader's release is our generated exercise, cell for cell
        released = nbformat.read(course / "release" / "ps1" / solution.name, as_version=4)
        ours = nbformat.read(ROOT / "exercises" / solution.name, as_version=4)
        assert _graded_sources(released) == _graded_sources(ours), solution.name

    for student, folder in (("kim", course / "source" / "ps1"), ("lee", course / "release" / "ps1")):
        shutil.copytree(folder, course / "submitted" / student / "ps1")
    done = _nbgrader(course, "autograde", "ps1", "--force")
    assert done.returncode == 0, done.stderr[-2000:]

    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        for solution in SOLUTIONS:
            points = _points(solution)
            kim = gradebook.find_submission_notebook(solution.stem, "ps1", "kim")
            lee = gradebook.find_submission_notebook(solution.stem, "ps1", "lee")
            assert {g.name: g.score for g in kim.grades} == points, solution.name  # full marks
            assert kim.max_score == sum(points.values()) > 0
            assert lee.score == 0, solution.name  # the untouched exercise


def _graded_sources(nb) -> dict[str, str]:
    return {grade_id(c): source_text(c).strip() for c in nb.cells if cell_kind(c)}


def _points(solution: Path) -> dict[str, float]:
    nb = nbformat.read(solution, as_version=4)
    return {grade_id(c): float(c.metadata["nbgrader"]["points"]) for c in nb.cells if cell_kind(c) == "test"}
