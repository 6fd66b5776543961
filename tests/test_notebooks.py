"""Every notebook runs top to bottom in the smoke profile; every notebook is tidy.

Executed copies land in `.executed/` (git-ignored) for inspection. The executions are
one test class per notebook, so `pytest -n 2 --dist loadscope` spreads them over cores.
"""

import json
import re
from pathlib import Path

import nbformat
import pytest

from conftest import KERNEL_NAME, ROOT

EXECUTED = ROOT / ".executed"
FOLDERS = ("notebooks", "solutions", "exercises")
LESSONS = sorted((ROOT / "notebooks").glob("*.ipynb"))
ALL = [p for folder in FOLDERS for p in sorted((ROOT / folder).glob("*.ipynb"))]
NAME = re.compile(r"^(\d\d)_[a-z0-9_]+\.ipynb$")
MAX_OUTPUT_BYTES = 1_000_000
MAX_NOTEBOOK_BYTES = 5_000_000
ABSOLUTE_PATH = re.compile(r"(/home/|/root/|/work/|/tmp/|/Users/|[A-Z]:\\\\Users|site-packages)")


def execute(path: Path) -> nbformat.NotebookNode:
    """Run `path` with papermill in the smoke profile; fail naming the cell and its traceback."""
    import papermill

    out = EXECUTED / path.parent.name / path.name
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        papermill.execute_notebook(
            str(path), str(out), parameters={"PROFILE": "smoke"}, kernel_name=KERNEL_NAME,
            cwd=str(path.parent), progress_bar=False, execution_timeout=600)
    except papermill.PapermillExecutionError as err:
        pytest.fail(f"{path.parent.name}/{path.name}: cell {err.cell_index} (execution count "
                    f"{err.exec_count}) raised {err.ename}: {err.evalue}\n"
                    f"{chr(10).join(err.traceback)}\nExecuted copy: {out}", pytrace=False)
    return nbformat.read(out, as_version=4)


def outputs_text(nb) -> str:
    """Return all text outputs of a notebook, joined."""
    parts = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if "text" in output:
                parts.append(output["text"])
            for key in ("text/plain", "text/markdown"):
                if key in output.get("data", {}):
                    parts.append(output["data"][key])
    return "\n".join(parts)


class NotebookRun:
    path: Path

    def test_runs_in_smoke_profile(self):
        nb = execute(self.path)
        text = outputs_text(nb)
        assert "profile smoke" in text, "the set-up cell did not report the smoke profile"
        if self.path.parent.name == "exercises":
            errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
            assert not errors, f"an untouched exercise crashed: {errors[0]['ename']}"
            assert re.search(r"not done yet", text, re.I), "unanswered checks must say 'not done yet'"
            assert not re.search(r"\bPASS(ED)?\b", text), "an untouched exercise must not pass a check"


for _path in ALL:
    _cls = type(f"TestRun_{_path.parent.name}_{_path.stem}", (NotebookRun,), {"path": _path})
    globals()[_cls.__name__] = _cls


# ---- hygiene ---------------------------------------------------------------------------

def _load(path):
    return nbformat.read(path, as_version=4)


@pytest.mark.parametrize("path", ALL, ids=lambda p: f"{p.parent.name}/{p.name}")
class TestHygiene:
    def test_valid_notebook_with_python3_kernelspec(self, path):
        nb = _load(path)
        nbformat.validate(nb)
        assert nb.metadata.get("kernelspec", {}).get("name") == "python3", \
            "set the kernelspec to python3 (the name JupyterLab and Colab both have)"

    def test_parameters_cell_sets_profile(self, path):
        cells = [c for c in _load(path).cells if "parameters" in c.metadata.get("tags", [])]
        assert len(cells) == 1, "exactly one cell must be tagged 'parameters' (papermill injects after it)"
        assert re.search(r"^PROFILE\s*=", cells[0].source, re.M), "the parameters cell must set PROFILE"

    def test_setup_uses_the_profile(self, path):
        source = "\n".join(c.source for c in _load(path).cells if c.cell_type == "code")
        assert "cnnlab.setup(PROFILE" in source, "call cnnlab.setup(PROFILE) at the top"

    def test_title_cell(self, path):
        first = _load(path).cells[0]
        assert first.cell_type == "markdown" and first.source.startswith("# "), \
            "the first cell must be a markdown title '# NN · Title'"

    def test_no_stored_errors(self, path):
        for i, cell in enumerate(_load(path).cells):
            for output in cell.get("outputs", []):
                assert output.output_type != "error", f"cell {i} stores an error output"

    def test_no_absolute_paths(self, path):
        text = path.read_text()
        match = ABSOLUTE_PATH.search(text)
        assert not match, f"machine-specific path {match.group(0)!r} near: {text[max(0, match.start()-80):match.end()+40]!r}"

    def test_output_sizes(self, path):
        assert path.stat().st_size <= MAX_NOTEBOOK_BYTES
        for i, cell in enumerate(_load(path).cells):
            for output in cell.get("outputs", []):
                size = len(json.dumps(output))
                assert size <= MAX_OUTPUT_BYTES, f"cell {i} has an output of {size:,} bytes"

    def test_checked_cells_are_reproducible(self, path):
        for i, cell in enumerate(_load(path).cells):
            if "nbval-check-output" in cell.metadata.get("tags", []):
                assert "clear_output" not in cell.source, f"cell {i}: nbval cannot check clear_output"
                assert not re.search(r"\btime\.|datetime|\bid\(", cell.source), \
                    f"cell {i} is checked by nbval but prints something that changes between runs"


def test_lessons_numbered_in_sequence():
    names = [p.name for p in LESSONS]
    assert names, "no lessons in notebooks/"
    assert all(NAME.match(n) for n in names), f"lesson names must look like 07_lenet5.ipynb: {names}"
    assert [int(n[:2]) for n in names] == list(range(len(names))), f"lesson numbers have gaps: {names}"


def test_exercises_pair_with_solutions_and_lessons():
    lessons = {p.name[:2] for p in LESSONS}
    solutions = sorted(p.name for p in (ROOT / "solutions").glob("*.ipynb"))
    exercises = sorted(p.name for p in (ROOT / "exercises").glob("*.ipynb"))
    assert solutions == exercises, "every solution needs its generated exercise and vice versa"
    assert all(NAME.match(n) and n[:2] in lessons for n in solutions)


def test_lessons_follow_the_template():
    for path in LESSONS:
        text = "\n".join(c.source for c in _load(path).cells if c.cell_type == "markdown")
        assert re.search(r"^(#+ |\*\*)Goals", text, re.M | re.I), f"{path.name}: no Goals section"
        assert re.search(r"^#+ .*What to remember", text, re.M | re.I), f"{path.name}: no 'What to remember'"
        assert re.search(r"^#+ .*Exercise", text, re.M | re.I), f"{path.name}: no Exercise section"
