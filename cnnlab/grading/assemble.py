"""Rebuild a submission for grading: the solution's given and test cells, the learner's answers.

The grader never runs a submission's own test cells. It walks the **solution** notebook, keeps
its locked and test cells (hidden tests included) and takes from the submission only the answer
cells, matched by ``grade_id``, plus the code cells a learner added right after an answer.
Guard cells (see :mod:`cnnlab.grading.sandbox`) go before every locked and test cell.
"""

from __future__ import annotations

import ast
import dataclasses
import json

import nbformat

from cnnlab.grading.notebook_source import cell_kind, exercise_from_solution, grade_id, source_text

GUARD_START = "import cnnlab.grading.sandbox as _cnnlab_sandbox\n_cnnlab_sandbox.start()"
GUARD_RESTORE = "import cnnlab.grading.sandbox as _cnnlab_sandbox\n_cnnlab_sandbox.restore(globals())"
# Names that reach into the interpreter or the grader: an answer using them is flagged for review.
SUSPICIOUS = {"__import__", "builtins", "__builtins__", "sys", "gc", "ctypes", "get_ipython",
              "globals", "setattr", "delattr", "__code__", "__globals__", "_cnnlab_sandbox",
              "sandbox", "addaudithook", "modules", "__class__", "__subclasses__", "exec", "eval",
              "grading", "checks", "keras_checks"}


class Rejected(Exception):
    """The file cannot be graded as this exercise; the message says why, for the gradebook."""


@dataclasses.dataclass
class Assembled:
    """A notebook ready to run, with what each cell is and what was noticed on the way."""

    notebook: nbformat.NotebookNode
    roles: list[tuple[str, str]]  # per cell: (guard|locked|answer|extra|test, grade_id)
    tests: dict[str, float]  # test grade_id -> points, in order
    notes: list[str]
    flags: list[str]


def read_submission(raw: bytes) -> nbformat.NotebookNode:
    """Return the submitted notebook, or raise Rejected saying why the file is not one."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise Rejected(f"not a notebook: the file is not JSON text ({type(error).__name__}). "
                       "Hand in the .ipynb file that Jupyter saves.") from None
    cells = data.get("cells") if isinstance(data, dict) else None
    if not isinstance(cells, list) or not all(isinstance(c, dict) and "cell_type" in c for c in cells):
        raise Rejected("JSON but not a Jupyter notebook: it has no list of cells. "
                       "Hand in the .ipynb file that Jupyter saves.")
    data.setdefault("metadata", {})
    if not isinstance(data["metadata"], dict):
        data["metadata"] = {}
    for cell in cells:
        if not isinstance(cell.get("metadata"), dict):
            cell["metadata"] = {}
    return nbformat.from_dict(data)


def python_source(source: str) -> str:
    """Return a cell's source with IPython syntax (``%pip``, ``!cmd``) turned into plain Python."""
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(source)


def bound_names(source: str) -> list[str]:
    """Return the names a cell binds at top level (assignments, imports, defs).

    >>> bound_names("import numpy as np\\nX, y = 1, 2\\ndef f(): pass")
    ['np', 'X', 'y', 'f']
    """
    names: list[str] = []
    for node in ast.parse(python_source(source)).body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names += [(a.asname or a.name).split(".")[0] for a in node.names]
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names += [n.id for n in ast.walk(target) if isinstance(n, ast.Name)]
    return names


def suspicious_names(source: str) -> list[str]:
    """Return the names in ``source`` that can tamper with grading (see SUSPICIOUS), sorted."""
    try:
        tree = ast.parse(python_source(source))
    except SyntaxError:
        return []
    found = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    found |= {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    found |= {part for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))
              for a in n.names for part in a.name.split(".")}
    found |= {part for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module
              for part in n.module.split(".")}
    return sorted(found & SUSPICIOUS)


def _check_identity(submission, name: str, answer_ids: list[str]) -> None:
    """Raise Rejected when the submission is another exercise's notebook or has no graded cells."""
    declared = submission.metadata.get("cnnlab", {})
    declared = declared.get("exercise") if isinstance(declared, dict) else None
    if declared and declared != name:
        raise Rejected(f"this is the notebook of exercise {declared}, not {name}; "
                       f"hand in {name}.ipynb")
    present = {grade_id(c) for c in submission.cells if grade_id(c)}
    if not present & set(answer_ids):
        if present:
            raise Rejected(f"none of the answer cells of {name} are in this notebook (it has "
                           f"{', '.join(sorted(present)[:4])}): is it another exercise's notebook?")
        raise Rejected(f"the notebook has no graded cells of {name} (their nbgrader metadata is "
                       f"gone): start again from exercises/{name}.ipynb and copy your answers in")


def _code(source: str, role: str, gid: str = "") -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["cnnlab_role"] = [role, gid]
    return cell


def _answer_groups(submission) -> tuple[dict[str, list], int]:
    """Return {answer grade_id: [its cell, extra cells after it], ...} and the count of orphans."""
    groups: dict[str, list] = {}
    current, orphans = None, 0
    for cell in submission.cells:
        kind = cell_kind(cell)
        if kind == "answer":
            current = grade_id(cell)
            groups.setdefault(current, []).append([cell])
        elif kind is not None:
            current = None
        elif cell.get("cell_type") == "code" and source_text(cell).strip():
            if current is None:
                orphans += 1
            else:
                groups[current][-1].append(cell)
    return groups, orphans


def assemble(solution, submission, name: str, *, strip: dict[str, list[int]] | None = None) -> Assembled:
    """Return the notebook to run: solution cells with the submission's answers (see module doc).

    ``strip`` maps a test's grade_id to the lines whose expected values the kernel must not get
    (:func:`cnnlab.grading.verdict.strip_expected`).
    """
    from cnnlab.grading.verdict import strip_expected

    exercise = exercise_from_solution(solution, name)
    answer_ids = [grade_id(c) for c in solution.cells if cell_kind(c) == "answer"]
    _check_identity(submission, name, answer_ids)
    groups, orphans = _answer_groups(submission)
    given = {grade_id(c): source_text(c) for c in submission.cells if grade_id(c)}
    notes, flags, cells, tests = [], [], [_code(GUARD_START, "guard")], {}
    if orphans:
        notes.append(f"{orphans} code cell(s) you added before the first answer cell were not run")
    for original, stub in zip(solution.cells, exercise.cells):
        kind, gid = cell_kind(original), grade_id(original)
        if original.cell_type != "code":
            continue
        if kind == "answer":
            versions = groups.get(gid, [])
            if not versions:
                notes.append(f"answer cell {gid} is missing; it counts as not done")
                cells.append(_code(source_text(stub), "answer", gid))
                continue
            if len(versions) > 1:
                notes.append(f"answer cell {gid} appears {len(versions)} times; only the last copy "
                             "was graded (keep exactly one)")
            answer, *extras = versions[-1]
            for cell, role in [(answer, "answer")] + [(extra, "extra") for extra in extras]:
                text = source_text(cell)
                cells.append(_code(text, role, gid))
                used = suspicious_names(text)
                if used:
                    flags.append(f"review {gid}: the answer uses {', '.join(used)}, "
                                 "which can tamper with grading")
            continue
        if kind in ("locked", "test"):
            if gid not in given:
                notes.append(f"{kind} cell {gid} was deleted; the original was used")
            elif given[gid].strip() not in (source_text(stub).strip(), source_text(original).strip()):
                notes.append(f"{kind} cell {gid} was edited; the original was used")
            cells.append(_code(GUARD_RESTORE, "guard"))
        text = source_text(original)
        if kind == "test" and strip and strip.get(gid):
            text = strip_expected(text, strip[gid])
        cells.append(_code(text, kind, gid))
        if kind == "test":
            tests[gid] = float(original.metadata["nbgrader"]["points"])
        else:
            names = bound_names(source_text(original))
            cells.append(_code(f"_cnnlab_sandbox.protect(globals(), {names!r})", "guard"))
    notebook = nbformat.v4.new_notebook(cells=cells)
    roles = [tuple(c.metadata["cnnlab_role"]) for c in cells]
    return Assembled(notebook, roles, tests, notes, flags)
