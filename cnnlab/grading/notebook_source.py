"""Read and mark the cells of a solution notebook (nbgrader metadata, schema version 3).

A code cell is one of three kinds: ``locked`` (given code), ``answer`` (the learner writes it;
the solution sits between ``### BEGIN SOLUTION`` and ``### END SOLUTION``) or ``test`` (checks
worth points, with an optional hidden region). See docs/exercises.md.
"""

from __future__ import annotations

import re

BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
CODE_STUB = ["# YOUR CODE HERE", "raise NotImplementedError()"]
MARKDOWN_STUB = ["YOUR ANSWER HERE"]
GRADE_ID = re.compile(r"^[a-z0-9_]+$")


def _nbgrader(grade_id: str, *, grade: bool, solution: bool, locked: bool) -> dict:
    return {"grade": grade, "grade_id": grade_id, "locked": locked,
            "schema_version": 3, "solution": solution, "task": False}


def mark_locked(cell, grade_id: str):
    """Return ``cell`` marked as a locked (given, read-only) cell."""
    cell.metadata["nbgrader"] = _nbgrader(grade_id, grade=False, solution=False, locked=True)
    return cell


def mark_answer(cell, grade_id: str):
    """Return ``cell`` marked as an answer cell the learner fills in."""
    cell.metadata["nbgrader"] = _nbgrader(grade_id, grade=False, solution=True, locked=False)
    return cell


def mark_test(cell, grade_id: str, points: float):
    """Return ``cell`` marked as a test cell worth ``points``."""
    cell.metadata["nbgrader"] = {**_nbgrader(grade_id, grade=True, solution=False, locked=True),
                                 "points": points}
    return cell


def cell_kind(cell) -> str | None:
    """Return 'answer', 'test', 'locked' or None (a cell without nbgrader metadata)."""
    meta = cell.get("metadata", {}).get("nbgrader")
    if not isinstance(meta, dict):
        return None
    if meta.get("solution"):
        return "answer"
    if meta.get("grade"):
        return "test"
    if meta.get("locked"):
        return "locked"
    return None


def grade_id(cell) -> str | None:
    """Return the cell's nbgrader grade_id, or None."""
    meta = cell.get("metadata", {}).get("nbgrader")
    return meta.get("grade_id") if isinstance(meta, dict) else None


def source_text(cell) -> str:
    """Return a cell's source as one string (nbformat allows a list of lines)."""
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _replace_regions(text: str, begin: str, end: str, stub: list[str] | None, where: str) -> str:
    """Return text with each begin...end region replaced by ``stub`` (indented) or removed."""
    out, inside, indent = [], False, ""
    for number, line in enumerate(text.split("\n"), start=1):
        marker = line.strip()
        if marker == begin:
            if inside:
                raise ValueError(f"{where}, line {number}: {begin} inside another; close it with {end}")
            inside, indent = True, line[: len(line) - len(line.lstrip())]
            out.extend(indent + s for s in (stub or []))
        elif marker == end:
            if not inside:
                raise ValueError(f"{where}, line {number}: {end} without {begin}")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError(f"{where}: {begin} is never closed; add a line {end}")
    return "\n".join(out)


def validate(nb, name: str) -> None:
    """Raise ValueError naming the cell when a solution notebook breaks the format's rules."""
    seen: set[str] = set()
    tests = 0
    for index, cell in enumerate(nb.cells):
        kind, gid = cell_kind(cell), grade_id(cell)
        where = f"{name}, cell {index}"
        if cell.cell_type == "code" and kind is None:
            raise ValueError(f"{where} is a code cell without nbgrader metadata; mark it with "
                             "mark_locked, mark_answer or mark_test (see docs/exercises.md)")
        if kind is None:
            continue
        if not gid or not GRADE_ID.match(gid):
            raise ValueError(f"{where}: grade_id {gid!r} must match [a-z0-9_]+")
        if gid in seen:
            raise ValueError(f"{where}: grade_id {gid!r} is used twice; each must be unique")
        seen.add(gid)
        text = source_text(cell)
        if kind == "answer" and BEGIN_SOLUTION not in text:
            raise ValueError(f"{where}: answer cell {gid!r} has no {BEGIN_SOLUTION} region")
        if kind == "test":
            tests += 1
            if not gid.startswith("test_"):
                raise ValueError(f"{where}: test cell id {gid!r} must start with 'test_'")
            if not isinstance(cell.metadata["nbgrader"].get("points"), (int, float)):
                raise ValueError(f"{where}: test cell {gid!r} needs a number of points")
    if tests == 0:
        raise ValueError(f"{name} has no test cell; add at least one with mark_test")


def exercise_from_solution(solution, name: str):
    """Return the exercise notebook for a solution: stubs for answers, hidden tests removed."""
    import copy

    validate(solution, name)
    nb = copy.deepcopy(solution)
    for index, cell in enumerate(nb.cells):
        where = f"{name}, cell {index}"
        text = source_text(cell)
        stub = MARKDOWN_STUB if cell.cell_type == "markdown" else CODE_STUB
        text = _replace_regions(text, BEGIN_SOLUTION, END_SOLUTION, stub, where)
        text = _replace_regions(text, BEGIN_HIDDEN, END_HIDDEN, None, where)
        cell.source = text
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        cell.metadata.pop("execution", None)
    nb.metadata["cnnlab"] = {"exercise": name, "generated_from": f"solutions/{name}.ipynb"}
    return nb
