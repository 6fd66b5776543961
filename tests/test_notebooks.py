"""Every notebook runs once per backend in the smoke profile, its checked cells reproduce, it is tidy.

Each notebook in notebooks/, solutions/ and exercises/ executes once with papermill; that one
execution serves both checks: the notebook runs top to bottom, and the cells tagged
`nbval-check-output` print what the stored copy shows (compared the way nbval's lax mode
compares, see `comparable`). The lessons and solutions carry the `backends` marker, so the
JAX pass of `./course.sh test` executes them again on JAX; the untouched exercises run on
TensorFlow only: their cells are the solutions' cells with the answers removed, so on JAX
they would only repeat the set-up that the lessons and solutions already run there.
Executed copies land in `.executed/<backend>/` (git-ignored) for inspection. The executions
are one test class per notebook, so `pytest -n 2 --dist loadscope` spreads them over cores.
"""

import importlib.util
import json
import os
import re
from collections import defaultdict
from pathlib import Path

import nbformat
import pytest

from conftest import KERNEL_NAME, ROOT

BACKEND = os.environ["KERAS_BACKEND"]  # set by `import cnnlab` in conftest when not given
EXECUTED = ROOT / ".executed" / BACKEND
FOLDERS = ("notebooks", "solutions", "exercises")
LESSONS = sorted((ROOT / "notebooks").glob("*.ipynb"))
ALL = [p for folder in FOLDERS for p in sorted((ROOT / folder).glob("*.ipynb"))]
NAME = re.compile(r"^(\d\d)_[a-z0-9_]+\.ipynb$")
MAX_OUTPUT_BYTES = 1_000_000
MAX_NOTEBOOK_BYTES = 5_000_000
ABSOLUTE_PATH = re.compile(r"(/home/|/root/|/work/|/tmp/|/Users/|[A-Z]:\\\\Users|site-packages)")
CHECKED = "nbval-check-output"

_spec = importlib.util.spec_from_file_location("colab_cells", ROOT / "scripts" / "colab_cells.py")
colab_cells = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(colab_cells)


def regenerate_hint(path: Path) -> str:
    return f"regenerate them with: .venv/bin/python scripts/run_notebooks.py {path.relative_to(ROOT)}"


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
        pytest.fail(f"{path.parent.name}/{path.name} on {BACKEND}: cell {err.cell_index} (execution "
                    f"count {err.exec_count}) raised {err.ename}: {err.evalue}\n"
                    f"{chr(10).join(err.traceback)}\nExecuted copy: {out}", pytrace=False)
    return nbformat.read(out, as_version=4)


def outputs_text(cells) -> str:
    """Return all text outputs of ``cells``, joined."""
    parts = []
    for cell in cells:
        for output in cell.get("outputs", []):
            if "text" in output:
                parts.append(output["text"])
            for key in ("text/plain", "text/markdown"):
                if key in output.get("data", {}):
                    parts.append(output["data"][key])
    return "\n".join(parts)


# ---- nbval's lax-mode comparison, on papermill's execution -----------------------------

# Keys nbval leaves out of the comparison (nbval.plugin.IPyNbFile.skip_compare, no --nbdime).
SKIP_COMPARE = {"metadata", "traceback", "prompt_number", "output_type", "name", "execution_count",
                "application/vnd.jupyter.widget-view+json", "image/png", "image/jpeg"}
_CARRIAGE_RETURN = re.compile(r"^.*\r(?=[^\n])", re.M)


def comparable(outputs) -> dict[str, list]:
    """Return a cell's outputs as nbval compares them: ``{key: [value, ...]}``.

    As nbval does: streams of the same name are merged and carriage returns applied; a stream is keyed by its name (stdout, stderr); other outputs by their MIME
    types (and keys such as ``ename``), leaving out the volatile ones in `SKIP_COMPARE`.
    The order of outputs of different keys does not matter, that of the same key does.

    >>> comparable([{"output_type": "stream", "name": "stdout", "text": "a\\r"},
    ...             {"output_type": "stream", "name": "stdout", "text": "b\\n"},
    ...             {"output_type": "execute_result", "execution_count": 3, "metadata": {},
    ...              "data": {"text/plain": "7", "image/png": "..."}}])
    {'stdout': ['b\\n'], 'text/plain': ['7']}
    """
    merged, streams = [], {}
    for output in outputs:
        if output["output_type"] == "stream":
            if output["name"] in streams:
                streams[output["name"]]["text"] += output["text"]
                continue
            output = streams[output["name"]] = {"output_type": "stream", "name": output["name"],
                                                "text": output["text"]}
        merged.append(output)
    for stream in streams.values():  # (nbval's backspace loop never runs: its condition starts false)
        stream["text"] = _CARRIAGE_RETURN.sub("", stream["text"])
    grouped = defaultdict(list)
    for output in merged:
        if output["output_type"] == "stream":
            grouped[output["name"]].append(output["text"])
            continue
        for key, value in output.items():
            if key == "data":
                for mime, data in value.items():
                    if mime not in SKIP_COMPARE:
                        grouped[mime].append(data)
            elif key not in SKIP_COMPARE:
                grouped[key].append(value)
    return dict(grouped)


def checked_cell_differences(stored, executed) -> list[str]:
    """Return one message per `nbval-check-output` cell whose new outputs differ from the stored ones."""
    executed_cells = [c for c in executed.cells if "injected-parameters" not in c.metadata.get("tags", [])]
    assert len(executed_cells) == len(stored.cells), "the executed copy has other cells than the stored one"
    problems = []
    for i, (old, new) in enumerate(zip(stored.cells, executed_cells)):
        if CHECKED not in old.metadata.get("tags", []):
            continue
        assert old.source == new.source, f"cell {i}: the executed copy has another source"
        if old.execution_count is None:  # nbval: an unrun reference cell is not compared
            assert not old.outputs, f"cell {i} is tagged {CHECKED} and stores outputs but was never run"
            continue
        want, got = comparable(old.outputs), comparable(new.outputs)
        if want != got:
            keys = sorted(set(want) | set(got))
            detail = "\n".join(f"  {key}: stored {want.get(key, [])!r:.300}\n  {' ' * len(key)}  now    "
                               f"{got.get(key, [])!r:.300}" for key in keys if want.get(key) != got.get(key))
            problems.append(f"cell {i} ({old.source.splitlines()[0][:60]!r}):\n{detail}")
    return problems


_RUNS: dict[Path, object] = {}  # one execution per notebook, or the failure it ended with


class NotebookRun:
    path: Path

    def executed(self) -> nbformat.NotebookNode:
        if self.path not in _RUNS:
            try:
                _RUNS[self.path] = execute(self.path)
            except pytest.fail.Exception as failure:
                _RUNS[self.path] = failure
        if isinstance(_RUNS[self.path], BaseException):
            raise _RUNS[self.path]
        return _RUNS[self.path]

    def test_runs_in_smoke_profile(self):
        nb = self.executed()
        text = outputs_text(nb.cells)
        assert "profile smoke" in text, "the set-up cell did not report the smoke profile"
        if self.path.parent.name == "exercises":
            errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
            assert not errors, f"an untouched exercise crashed: {errors[0]['ename']}"
            assert re.search(r"not done yet", text, re.I), "unanswered checks must say 'not done yet'"
            assert not re.search(r"\bPASS(ED)?\b", text), "an untouched exercise must not pass a check"

    def test_checked_cells_reproduce_the_stored_outputs(self):
        problems = checked_cell_differences(nbformat.read(self.path, as_version=4), self.executed())
        assert not problems, (
            f"{self.path.parent.name}/{self.path.name} on {BACKEND}: cells tagged {CHECKED} print "
            "something else than the stored copy:\n" + "\n".join(problems) +
            f"\nIf the change is intended, {regenerate_hint(self.path)}; if the output differs between "
            f"runs or profiles, untag the cell. Executed copy: {EXECUTED / self.path.parent.name / self.path.name}")


for _path in ALL:
    _cls = type(f"TestRun_{_path.parent.name}_{_path.stem}", (NotebookRun,), {"path": _path})
    _cls = pytest.mark.notebook(_cls)
    if _path.parent.name != "exercises":
        _cls = pytest.mark.backends(_cls)
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

    def test_first_code_cell_installs_cnnlab_on_colab(self, path):
        first = next(c for c in _load(path).cells if c.cell_type == "code")
        assert first.source == colab_cells.cell_source(), (
            "the first code cell must be the Colab install cell written from pyproject.toml's "
            "[project.urls]; run: .venv/bin/python scripts/colab_cells.py")

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
            if CHECKED in cell.metadata.get("tags", []):
                assert "clear_output" not in cell.source, f"cell {i}: a checked cell cannot call clear_output"
                assert not re.search(r"\btime\.|datetime|\bid\(", cell.source), \
                    f"cell {i} is checked but prints something that changes between runs"


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name)
def test_lesson_stores_the_outputs_of_one_full_run(path):
    # The Colab install cell is left out: it prints nothing outside Colab, and moving it to the
    # front (scripts/colab_cells.py) must not call for a new full run.
    cells = [(i, c) for i, c in enumerate(_load(path).cells)
             if c.cell_type == "code" and not colab_cells.is_install_cell(c)]
    unrun = [i for i, c in cells if c.execution_count is None]
    assert not unrun, f"{path.name}: code cells {unrun} store no run (outputs missing); {regenerate_hint(path)}"
    counts = [c.execution_count for _, c in cells]
    assert counts == sorted(set(counts)), \
        f"{path.name}: the stored outputs are not from one top-to-bottom run; {regenerate_hint(path)}"
    setup = [c for _, c in cells if "cnnlab.setup(PROFILE" in c.source]
    report = outputs_text(setup)
    found = re.search(r"profile (\w+)", report)
    assert found and found.group(1) == "full", (
        f"{path.name}: the stored outputs come from a {found.group(1) + ' ' if found else ''}run "
        f"that is not the full profile (the set-up cell prints {report.strip()[:120]!r}); {regenerate_hint(path)}")


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
