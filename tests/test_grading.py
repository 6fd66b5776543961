"""Exercises and grading: generation, self-checks, and one batch of real and hostile submissions.

Kernel start-ups dominate the cost, so every submission that needs a kernel is graded in one
batch (``batch``, -j 2, isolated kernels) and the tests below assert on its rows. The hostile
submissions are written here as fixtures: each one attacks the grader the way a determined
student would (reading the solution, forging the checks from a background thread, escaping the
kernel with a setsid'ed grandchild, killing the grader), and its test says what must hold.
"""

from __future__ import annotations

import copy
import csv
import json
import os
import threading
from pathlib import Path

import nbformat
import numpy as np
import pytest

from cnnlab.cli import main as cli_main
from cnnlab.grading import CheckFailed, NotDoneYet, array_mismatch, check
from cnnlab.grading.assemble import Rejected, assemble, bound_names, read_submission
from cnnlab.grading.generate import exercise_text, make_exercises
from cnnlab.grading.grader import Limits, find_submissions, grade_batch
from cnnlab.grading.isolation import probe
from cnnlab.grading.notebook_source import (
    cell_kind,
    exercise_from_solution,
    grade_id,
    mark_answer,
    mark_locked,
    mark_test,
    source_text,
)
from cnnlab.grading.report import row_reason, write_all

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))
EXERCISE = "01_perceptron_and_mlp"
CELL_TIMEOUT = 10
# The notebook limit of the time-limit test: far above what a kernel needs to start and pass
# the first test on a loaded machine; the second test then blocks on an event nobody sets.
SLOW_LIMIT = 150
MARKER = "hostile-31337"  # in the command line of the process the intruder leaves behind


def require_isolation():
    """Fail under CI (skip elsewhere) when this machine cannot isolate kernels, saying why."""
    isolation = probe()
    if not isolation.active:
        (pytest.fail if os.environ.get("CI") else pytest.skip)(isolation.summary)


def _solution(name: str = EXERCISE):
    return nbformat.read(ROOT / "solutions" / f"{name}.ipynb", as_version=4)


def _answers(name: str = EXERCISE) -> dict[str, str]:
    """Return the solution's answer sources by grade_id."""
    return {grade_id(c): source_text(c) for c in _solution(name).cells if cell_kind(c) == "answer"}


def _submission(replace: dict[str, str] | None = None, name: str = EXERCISE):
    """Return the exercise notebook filled with the solution's answers, some replaced."""
    answers = {**_answers(name), **(replace or {})}
    nb = exercise_from_solution(_solution(name), name)
    for cell in nb.cells:
        if cell_kind(cell) == "answer":
            cell.source = answers[grade_id(cell)]
    return nb


def _cell_index(nb, gid: str) -> int:
    return next(i for i, c in enumerate(nb.cells) if grade_id(c) == gid)


# --- hostile and broken submissions, each a student of the batch -----------------------------

def _structure_broken():
    """Answer cell missing, another duplicated (a stub, then the answer), test cells deleted and
    edited, an orphan cell."""
    nb = _submission({"xor_weights": "def xor_weights():\n    return np.eye(2), np.zeros(2), np.ones(2), 0.0"})
    nb.cells.insert(1, nbformat.v4.new_code_cell("print('scratch work')"))
    del nb.cells[_cell_index(nb, "softmax")]
    del nb.cells[_cell_index(nb, "test_softmax")]
    nb.cells[_cell_index(nb, "test_xor_weights")].source = "pass  # the test is gone"
    i = _cell_index(nb, "perceptron_predict")
    stub = copy.deepcopy(nb.cells[i])
    stub.id = "duplicate-answer"
    stub.source = "def perceptron_predict(w, b, X):\n    raise NotImplementedError()"
    nb.cells.insert(i, stub)  # the first copy is the stub, the last the learner's answer
    return nb


CHEAT_CHECK = '''
Y_AND[:] = 0  # make the expected answer match the wrong one
import cnnlab.grading, cnnlab.grading.checks, contextlib
@contextlib.contextmanager
def check(name):
    class Anything:
        def __getattr__(self, _):
            return lambda *a, **k: True
    try:
        yield Anything()
    except Exception:
        pass
cnnlab.grading.check = cnnlab.grading.checks.check = check
cnnlab.grading.checks.check.__exit__ = lambda *a: True
'''
CHEAT_NUMPY = '''
np.allclose = lambda *a, **k: True
np.abs = lambda x: np.zeros_like(np.asarray(x, dtype=float))
np.array_equal = lambda *a, **k: True
cnnlab.grading.checks.array_mismatch = lambda *a, **k: None
import builtins
builtins.abs = lambda x: 0
'''
CHEAT_CODE = '''
import cnnlab.grading.keras_checks as kc
kc.model_mismatch.__code__ = (lambda *a, **k: None).__code__
'''


def _cheater():
    """Wrong answers, plus code that rebinds the checks, NumPy functions and a function's code."""
    return _submission({
        "perceptron_predict": "def perceptron_predict(w, b, X):\n    return np.zeros(len(X), dtype=int)\n"
                              + CHEAT_CHECK,
        "softmax": "def softmax(z):\n    return np.asarray(z, dtype=float)\n" + CHEAT_NUMPY,
        "xor_weights": "def xor_weights():\n    return np.eye(2), np.zeros(2), np.ones(2), 0.0",
        "build_xor_model": "def build_xor_model():\n    return keras.Sequential([keras.Input((2,)), "
                           "keras.layers.Dense(3, activation='relu'), keras.layers.Dense(1)])\n"
                           + CHEAT_CODE,
    })


def _misc_hostile(outside: Path):
    """Megabytes of output, an endless loop, input(), a write outside the working copy, an
    import that fails: one per answer cell, so one kernel covers them all."""
    answers = _answers()
    return _submission({
        "perceptron_predict": answers["perceptron_predict"] + "\nprint('x' * 3_000_000)",
        "perceptron_train": "while True:\n    pass\n" + answers["perceptron_train"],
        "xor_weights": "def xor_weights():\n    name = input('your name? ')\n    return name",
        "softmax": answers["softmax"] + f"\nopen({str(outside)!r}, 'w').write('pwned')",
        "build_xor_model": "import this_module_does_not_exist\n" + answers["build_xor_model"],
    })


STUBBORN = '''import signal, time
signal.signal(signal.SIGINT, signal.SIG_IGN)  # deaf to the grader's interrupt
while True:
    time.sleep(0.1)
'''


def _stubborn_loop():
    return _submission({"perceptron_train": STUBBORN + _answers()["perceptron_train"]})


def _crasher():
    """Memory exhaustion in one answer, then os._exit in a later one."""
    answers = _answers()
    return _submission({
        "xor_weights": "hog = [bytearray(1 << 28) for _ in range(64)]\n" + answers["xor_weights"],
        "build_xor_model": "import os\nos._exit(3)\n" + answers["build_xor_model"],
    })


def _other_exercise(declared: bool):
    nb = _submission()
    if declared:
        nb.metadata["cnnlab"]["exercise"] = "02_backpropagation"
    else:
        del nb.metadata["cnnlab"]
        for cell in nb.cells:
            if grade_id(cell):
                cell.metadata["nbgrader"]["grade_id"] = "other_" + grade_id(cell)
    return nb


INTRUDER_READ = """
import glob, json, os
SOLUTION = {solution!r}
try:  # the stub that loads the answer from the reference solution
    _cells = json.load(open(SOLUTION))["cells"]
    exec("".join(next(c["source"] for c in _cells
                      if c["metadata"].get("nbgrader", {{}}).get("grade_id") == "perceptron_predict")))
except OSError:
    def perceptron_predict(w, b, X):
        return np.zeros(len(X), dtype=int)
_seen = {{"solutions": len(glob.glob({solutions!r} + "/*")), "scratch": len(glob.glob("/tmp/cnnlab-grade-*")),
          "job": len(glob.glob(os.path.join(os.getcwd(), "..", "*.json"))),
          "processes": len([p for p in os.listdir("/proc") if p.isdigit()]),
          "env": sum("solution" in v for v in os.environ.values())}}
raise RuntimeError("peek " + " ".join(f"{{k}}={{v}}" for k, v in _seen.items()))
"""
INTRUDER_ESCAPE = """
import ctypes, os
_libc = ctypes.CDLL(None)
_child = _libc.fork()  # through libc: no audit event
if _child == 0:
    _libc.setsid()
    if _libc.fork() == 0:  # the grandchild, in a new session, loops for ever writing outside
        _script = b"while :; do echo escaped >> {outside}; sleep 0.2; done"
        _argv = (ctypes.c_char_p * 5)(b"/bin/sh", b"-c", _script, b"{marker}", None)
        _libc.execv(b"/bin/sh", _argv)
    _libc._exit(0)
os.waitpid(_child, 0)
"""
INTRUDER_KILL = """
import os, signal
_results = []
for _target in (os.getppid(), {grader}, 1):
    try:
        os.kill(_target, signal.SIGKILL)
        _results.append(f"{{_target}}:sent")
    except OSError as error:
        _results.append(f"{{_target}}:{{type(error).__name__}}")
raise RuntimeError("kills " + " ".join(_results))
"""


def _intruder(outside: Path):
    """Reads the solution from disk, leaves a setsid'ed grandchild writing outside, and tries to
    kill the grader, its parent and PID 1; its answers are right where the attack allows."""
    answers = _answers()
    return _submission({
        "perceptron_predict": INTRUDER_READ.format(solution=str(ROOT / "solutions" / f"{EXERCISE}.ipynb"),
                                                   solutions=str(ROOT / "solutions")),
        "xor_weights": answers["xor_weights"] + INTRUDER_ESCAPE.format(outside=outside, marker=MARKER),
        "build_xor_model": answers["build_xor_model"] + INTRUDER_KILL.format(grader=os.getpid()),
    })


FORGER = """
import threading, time
import cnnlab.grading.checks as _checks

def _forge():
    def array(self, actual, expected=None, **kw):  # claim the expected value as the result
        return _checks.Checks._keep(self, "array", expected, expected, {"rtol": 1e9, "atol": 1e9}, "", "")
    def true(self, condition, **kw):
        _checks.Checks._keep(self, "true", True, None, {}, "", "")
        self.recorded[-1]["truth"] = True
        return True
    while True:  # re-bind the helpers faster than any restore can put them back
        _checks.Checks.array, _checks.Checks.true = array, true
        _checks.array_mismatch = lambda *a, **k: None
        _checks.grading = lambda: False
        time.sleep(0.001)

threading.Thread(target=_forge, daemon=True).start()
"""


def _forger():
    """Wrong answers, plus a background thread that keeps re-binding the check helpers."""
    return _submission({
        "perceptron_predict": "def perceptron_predict(w, b, X):\n    return np.zeros(len(X), dtype=int)\n" + FORGER,
        "softmax": "def softmax(z):\n    return np.asarray(z, dtype=float)",
        "xor_weights": "def xor_weights():\n    return np.eye(2), np.zeros(2), np.ones(2), 0.0",
        "build_xor_model": "def build_xor_model():\n    return keras.Sequential([keras.Input((2,)), "
                           "keras.layers.Dense(4, activation='relu'), keras.layers.Dense(1)])",
    })


def _slowpoke():
    """The first test passes; the second calls code that blocks on an event nobody sets."""
    return _submission({"perceptron_train": "import threading\n\ndef perceptron_train(*args, **kwargs):\n"
                                            "    threading.Event().wait()"})


def _put(folder: Path, student: str, content, name: str = EXERCISE) -> Path:
    path = folder / student / f"{name}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        nbformat.write(content, path)
    return path


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """Grade every solution, every generated exercise and each hostile case in one batch, and the
    time-limit case alongside it (it spends its time waiting, not computing)."""
    require_isolation()
    folder = tmp_path_factory.mktemp("submissions")
    outside = tmp_path_factory.mktemp("outside") / "written_by_student.txt"
    out = tmp_path_factory.mktemp("grades")
    exercises = sorted({s.stem for s in SOLUTIONS})
    # First the files that need no kernel, one per exercise: this also runs (and caches in
    # out/.trusted) each solution's trusted runs, which the batches below then share.
    for name in exercises:
        _put(folder, "not_json", b"\x89PNG this is a picture, not a notebook", name)
    limits = Limits(cell_timeout=CELL_TIMEOUT, timeout=240, memory_mb=4096)
    first = grade_batch(find_submissions(folder, exercises), ROOT / "solutions", limits, jobs=2,
                        progress=False, out=out)
    slow_folder = tmp_path_factory.mktemp("slow")
    _put(slow_folder, "slowpoke", _slowpoke())
    slow: dict = {}
    slow_thread = threading.Thread(target=lambda: slow.update(rows=grade_batch(
        find_submissions(slow_folder, [EXERCISE]), ROOT / "solutions",
        Limits(cell_timeout=10 * SLOW_LIMIT, timeout=SLOW_LIMIT), jobs=1, progress=False,
        out=out)))
    slow_thread.start()
    for solution in SOLUTIONS:
        _put(folder, "solution", nbformat.read(solution, as_version=4), solution.stem)
        _put(folder, "untouched", nbformat.read(ROOT / "exercises" / solution.name, as_version=4),
             solution.stem)
    _put(folder, "json_not_notebook", json.dumps({"answers": [1, 2, 3]}).encode())
    _put(folder, "other_exercise_declared", _other_exercise(declared=True))
    _put(folder, "other_exercise_ids", _other_exercise(declared=False))
    _put(folder, "structure", _structure_broken())
    _put(folder, "cheater", _cheater())
    _put(folder, "forger", _forger())
    _put(folder, "intruder", _intruder(outside))
    _put(folder, "misc", _misc_hostile(outside))
    _put(folder, "stubborn_loop", _stubborn_loop())
    _put(folder, "crasher", _crasher())
    subs = [s for s in find_submissions(folder, exercises) if s.student != "not_json"]
    before = sorted(p.relative_to(folder) for p in folder.rglob("*"))
    records = first + grade_batch(subs, ROOT / "solutions", limits, jobs=2, progress=False,
                                  watch=[folder], out=out)
    survivors = _processes_with(MARKER)
    slow_thread.join()
    write_all(records, out)
    return {"rows": {(r["student"], r["exercise"]): r for r in records}, "out": out,
            "outside": outside, "folder": folder, "before": before, "survivors": survivors,
            "slow": slow.get("rows", [])}


def _processes_with(marker: str) -> list[str]:
    """Return the command lines of processes whose command line holds ``marker`` (after giving
    each such process time to be reaped, as the kernel's end kills them)."""
    import psutil

    found = []
    for process in psutil.process_iter(["cmdline"]):
        if marker in " ".join(process.info["cmdline"] or []):
            found.append(process)
    _, alive = psutil.wait_procs(found, timeout=10)
    return [" ".join(p.cmdline()) for p in alive if p.is_running()]


def _row(batch, student: str, exercise: str = EXERCISE) -> dict:
    return batch["rows"][(student, exercise)]


def _tests(row) -> dict[str, dict]:
    return {t["test"]: t for t in row["tests"]}


@pytest.mark.notebook
@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: p.stem)
def test_every_solution_scores_full_marks(batch, solution):
    row = _row(batch, "solution", solution.stem)
    failed = [f"{t['test']}: {t['status']} {t['message']}" for t in row["tests"] if t["status"] != "passed"]
    assert not failed and row["score"] == row["max"] > 0, failed
    assert len(row["tests"]) >= 3
    assert len(row["sha256"]) == 64 and row["status"] == "graded"


@pytest.mark.notebook
@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: p.stem)
def test_every_untouched_exercise_scores_zero_without_crashing(batch, solution):
    row = _row(batch, "untouched", solution.stem)
    assert row["status"] == "graded" and row["score"] == 0
    assert {t["status"] for t in row["tests"]} == {"not done"}, row["tests"]


@pytest.mark.notebook
@pytest.mark.parametrize("student, words", [
    ("not_json", "not JSON"),
    ("json_not_notebook", "not a Jupyter notebook"),
    ("other_exercise_declared", "notebook of exercise 02_backpropagation"),
    ("other_exercise_ids", "another exercise"),
])
def test_files_that_are_not_this_exercise_are_rejected_with_a_reason(batch, student, words):
    row = _row(batch, student)
    assert row["status"] == "rejected" and row["score"] == 0
    assert words in row["reason"]
    assert all(t["status"] == "rejected" for t in row["tests"])


@pytest.mark.notebook
def test_missing_duplicated_and_edited_cells_are_graded_with_the_solution_tests(batch):
    row = _row(batch, "structure")
    tests, notes = _tests(row), " | ".join(row["notes"])
    assert "answer cell softmax is missing" in notes
    assert "answer cell perceptron_predict appears 2 times; only the last copy was graded" in notes
    assert "test cell test_softmax was deleted" in notes
    assert "test cell test_xor_weights was edited" in notes
    assert "before the first answer cell were not run" in notes
    assert tests["test_softmax"]["status"] == "not done"
    assert tests["test_perceptron_predict"]["status"] == "passed"  # graded once, the last copy
    assert "NotImplementedError" not in tests["test_perceptron_predict"]["message"]
    assert tests["test_xor_weights"]["status"] == "failed"  # the edited test still runs
    assert tests["test_perceptron_train"]["status"] == "passed"  # its answer is the solution's
    assert tests["test_build_xor_model"]["status"] == "passed"
    assert row["score"] == 2 + 3 + 3


@pytest.mark.notebook
def test_rebinding_checks_numpy_or_function_code_does_not_pass_wrong_answers(batch):
    row = _row(batch, "cheater")
    assert row["score"] == 0, row["tests"]
    assert all(t["status"] in ("failed", "error") for t in row["tests"]), row["tests"]
    flags = " | ".join(row["flags"])
    assert "review perceptron_predict" in flags and "replacing a function's __code__" in flags


@pytest.mark.notebook
def test_output_flood_loop_input_outside_writes_and_import_errors_each_get_a_reason(batch):
    row = _row(batch, "misc")
    tests, notes = _tests(row), " | ".join(row["notes"])
    assert tests["test_perceptron_predict"]["status"] == "passed"  # printing a lot is not wrong
    assert "more than 1 MB" in notes
    assert "perceptron_train: it ran past the cell time limit" in notes
    assert tests["test_perceptron_train"]["status"] == "error"  # interrupted before its def
    assert "input()" in tests["test_xor_weights"]["message"]
    assert not batch["outside"].exists()
    assert "outside the working copy" in " | ".join(row["flags"])
    assert tests["test_softmax"]["status"] == "passed"  # the def ran before the refused write
    assert "ModuleNotFoundError" in notes
    assert tests["test_build_xor_model"]["status"] == "error"
    assert row["score"] == 2 + 2


@pytest.mark.notebook
def test_a_loop_that_ignores_interrupts_stops_the_notebook_not_the_batch(batch):
    row = _row(batch, "stubborn_loop")
    tests = _tests(row)
    assert tests["test_perceptron_predict"]["status"] == "passed"
    assert tests["test_softmax"]["status"] == "timeout"
    assert "ignored the interrupt" in tests["test_softmax"]["message"]
    assert row["score"] == 2


@pytest.mark.notebook
def test_memory_exhaustion_and_a_dying_kernel_yield_a_row(batch):
    row = _row(batch, "crasher")
    tests = _tests(row)
    assert tests["test_softmax"]["status"] == "passed"
    assert "xor_weights: the code ran out of memory" in " | ".join(row["notes"])
    assert tests["test_xor_weights"]["status"] == "error"
    assert tests["test_build_xor_model"]["status"] == "kernel died"
    assert "the kernel died while running answer cell build_xor_model" in tests["test_build_xor_model"]["message"]
    assert row["score"] == 2 + 3 + 2


@pytest.mark.notebook
def test_outputs_gradebook_json_and_feedback(batch):
    out = batch["out"]
    with (out / "gradebook.csv").open() as handle:
        rows = {r["student"]: r for r in csv.DictReader(handle)}
    assert set(rows) >= {"solution", "untouched", "not_json", "cheater"}
    assert float(rows["solution"][EXERCISE]) == 12 and float(rows["untouched"][EXERCISE]) == 0
    assert rows["solution"][f"{EXERCISE}:test_softmax"] == "2.0"
    assert "not JSON" in rows["not_json"]["notes"]
    record = json.loads((out / "structure" / f"{EXERCISE}.json").read_text())
    assert set(record["tests"][0]) == {"test", "points", "max", "status", "message", "duration",
                                       "kernel_judged"}
    # Every row that lost marks says why, test by test, in the gradebook.
    for (student, exercise), r in batch["rows"].items():
        lost = [t["test"] for t in r["tests"] if t["status"] != "passed"]
        if lost and exercise == EXERCISE:
            assert all(test in rows[student]["notes"] or r["status"] == "rejected" for test in lost), student
    assert "test_softmax timeout" in rows["stubborn_loop"]["notes"]
    assert "test_build_xor_model kernel died" in rows["crasher"]["notes"]
    assert "input()" in rows["misc"]["notes"]
    feedback = (out / "untouched" / "feedback.md").read_text()
    assert "not done yet" in feedback and "0 / 12 points" in feedback
    # Grading changed nothing in the submissions folder.
    assert sorted(p.relative_to(batch["folder"]) for p in batch["folder"].rglob("*")) == batch["before"]
    assert not any(r["flags"] and "changed while it ran" in " ".join(r["flags"])
                   for r in batch["rows"].values())


@pytest.mark.notebook
def test_the_notebook_time_limit_keeps_the_credit_earned_before_it(batch):
    [row] = batch["slow"]
    tests = _tests(row)
    assert row["status"] == "timeout"
    assert "the notebook ran past its time limit" in " ".join(row["notes"])
    assert tests["test_perceptron_predict"]["status"] == "passed"  # before the limit: kept
    assert {tests[t]["status"] for t in tests if t != "test_perceptron_predict"} == {"timeout"}
    assert row["score"] == 2
    assert "test_perceptron_train timeout" in row_reason(row)


@pytest.mark.notebook
def test_the_kernel_cannot_read_solutions_scratch_or_see_the_grader(batch):
    row = _row(batch, "intruder")
    notes = " | ".join(row["notes"])
    assert "peek solutions=0 scratch=0 job=0" in notes, notes
    processes = int(notes.split("processes=")[1].split()[0])
    assert 2 <= processes <= 4, notes  # PID 1, the kernel, its shell: not the grader's
    assert "env=0" in notes
    # the stub that loads the answer from solutions/ found nothing: the wrong fallback ran
    assert _tests(row)["test_perceptron_predict"]["status"] == "failed"
    assert row["isolation"].startswith("isolated")
    assert not any(f.startswith("not isolated") for f in row["flags"])


@pytest.mark.notebook
def test_a_setsid_grandchild_dies_with_the_kernel_and_never_writes_outside(batch):
    assert batch["survivors"] == []
    assert not batch["outside"].exists()
    row = _row(batch, "intruder")
    assert _tests(row)["test_xor_weights"]["status"] == "passed"  # the answer above the attack


@pytest.mark.notebook
def test_killing_the_grader_its_parent_or_pid_1_fails_and_the_batch_goes_on(batch):
    row = _row(batch, "intruder")
    kills = next(n for n in row["notes"] if "kills" in n).split("kills ")[1].split()
    grader = f"{os.getpid()}:"
    assert any(k.startswith(grader) and k.endswith(("ProcessLookupError", "PermissionError")) for k in kills), kills
    assert all(not k.endswith(":sent") or k.startswith("1:") for k in kills), kills
    assert _tests(row)["test_build_xor_model"]["status"] == "passed"
    assert len(batch["rows"]) == len(SOLUTIONS) * 3 + 10  # every submission has its row


@pytest.mark.notebook
def test_checks_rebound_from_a_background_thread_do_not_change_the_verdict(batch):
    row = _row(batch, "forger")
    assert row["score"] == 0, row["tests"]
    tests = _tests(row)
    assert {t["status"] for t in tests.values()} == {"failed"}, row["tests"]
    assert "FAIL  w = (1, 1) and b = -1.5 compute AND" in tests["test_perceptron_predict"]["message"]


# --- generation and the format, no kernel -------------------------------------------------

def test_exercises_are_up_to_date_with_solutions():
    stale = make_exercises(ROOT / "solutions", ROOT / "exercises", check=True)
    assert not stale, f"run `cnnlab make-exercises`: {stale} are out of date"
    assert sorted(p.name for p in (ROOT / "exercises").glob("*.ipynb")) == [p.name for p in SOLUTIONS]


@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: p.stem)
def test_exercises_hide_solutions_and_hidden_tests(solution):
    text = exercise_text(solution)
    assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text
    assert "raise NotImplementedError()" in text
    nb = nbformat.reads(text, as_version=4)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert any("parameters" in c.metadata.get("tags", []) for c in nb.cells)
    assert sum(cell_kind(c) == "test" for c in nb.cells) >= 3


def test_make_exercises_check_reports_a_stale_exercise(tmp_path, capsys):
    (tmp_path / "solutions").mkdir()
    (tmp_path / "solutions" / f"{EXERCISE}.ipynb").write_bytes(
        (ROOT / "solutions" / f"{EXERCISE}.ipynb").read_bytes())
    args = ["--solutions", str(tmp_path / "solutions"), "--exercises", str(tmp_path / "exercises")]
    assert cli_main(["make-exercises", "--check", *args]) == 1
    assert "out of date" in capsys.readouterr().out
    assert cli_main(["make-exercises", *args]) == 0
    assert cli_main(["make-exercises", "--check", *args]) == 0


def _tiny_solution(answer: str, test: str):
    nb = nbformat.v4.new_notebook()
    nb.cells = [mark_locked(nbformat.v4.new_code_cell("import numpy as np"), "setup"),
                mark_answer(nbformat.v4.new_code_cell(answer), "square"),
                mark_test(nbformat.v4.new_code_cell(test), "test_square", points=1)]
    return nb


def test_generator_keeps_indentation_and_names_broken_markers():
    nb = _tiny_solution("def square(x):\n    ### BEGIN SOLUTION\n    return x * x\n    ### END SOLUTION",
                        "assert square(2) == 4\n### BEGIN HIDDEN TESTS\nassert square(3) == 9\n"
                        "### END HIDDEN TESTS")
    exercise = exercise_from_solution(nb, "99_square")
    assert exercise.cells[1].source == "def square(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()"
    assert exercise.cells[2].source == "assert square(2) == 4"
    broken = _tiny_solution("def square(x):\n    ### BEGIN SOLUTION\n    return x * x", "pass")
    with pytest.raises(ValueError, match="never closed"):
        exercise_from_solution(broken, "99_square")
    unmarked = _tiny_solution("x = 1", "pass")
    unmarked.cells[0].metadata = {}
    with pytest.raises(ValueError, match="cell 0 is a code cell without nbgrader metadata"):
        exercise_from_solution(unmarked, "99_square")


def test_read_submission_and_assemble_without_a_kernel():
    with pytest.raises(Rejected, match="not JSON"):
        read_submission(b"\xff\xfe")
    with pytest.raises(Rejected, match="no list of cells"):
        read_submission(b'{"cells": 3}')
    plan = assemble(_solution(), _submission(), EXERCISE)
    roles = [role for role, _ in plan.roles]
    assert roles[0] == "guard" and roles.count("test") == len(plan.tests) >= 3
    assert roles.count("answer") == len(_answers())
    # Every locked and test cell comes right after a guard cell that restores protected names.
    for index, role in enumerate(roles):
        if role in ("locked", "test"):
            assert "restore" in plan.notebook.cells[index - 1].source
    assert bound_names("import keras.layers\nfor i in range(2): pass") == ["keras"]


# --- self-checks, in this process ---------------------------------------------------------

def test_check_prints_pass_and_mentions_hidden_tests(capsys):
    with check("demo") as c:
        c.array(np.array([0.5, 0.5]), [0.5, 0.5], what="halves")
        c.equal((2, 3), (2, 3), what="shape")
    out = capsys.readouterr().out
    assert "PASS  halves" in out and "Hidden tests may check more" in out


def test_check_fails_with_a_hint_and_not_done_for_stubs(capsys, monkeypatch):
    with pytest.raises(CheckFailed, match="halves"):
        with check("demo") as c:
            c.array([0.5, 0.6], [0.5, 0.5], what="halves", hint="Divide by two.")
    assert "FAIL  halves: value at index (1,) is 0.6, expected 0.5" in capsys.readouterr().out

    def stub():
        raise NotImplementedError()

    with check("demo") as c:  # a learner's untouched notebook: a message, no error
        c.array(stub(), 1)
    assert "NOT DONE YET" in capsys.readouterr().out
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    with pytest.raises(NotDoneYet):  # under a grader it must fail
        with check("demo") as c:
            c.array(stub(), 1)
    with pytest.raises(CheckFailed, match="ZeroDivisionError"):
        with check("demo") as c:
            c.true(1 / 0)


def test_array_mismatch_checks_shape_then_kind_then_values():
    assert array_mismatch(np.zeros((2, 3)), np.zeros((3, 2))) == "shape is (2, 3), expected (3, 2)"
    assert "expected numbers" in array_mismatch(np.array(["a", "b"]), [1, 2])
    assert "nan" in array_mismatch([np.nan], [1.0])
    assert array_mismatch([1.0 + 1e-9], [1.0]) is None


@pytest.mark.backends
def test_model_mismatch_points_at_the_first_difference():
    from cnnlab.runtime import import_keras_quietly

    keras = import_keras_quietly()
    from cnnlab.grading import model_mismatch

    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(6, 5, padding="same"),
                              keras.layers.MaxPooling2D(2), keras.layers.Dropout(0.25),
                              keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")])
    spec = [{"type": "Conv2D", "filters": 6, "kernel_size": 5, "padding": "same", "strides": 1,
             "output_shape": (None, 28, 28, 6), "params": 156},
            {"type": "MaxPooling2D", "pool_size": 2, "output_shape": (None, 14, 14, 6)},
            {"type": "Dropout", "rate": 0.25},
            {"type": "Flatten"},
            {"type": "Dense", "units": 10, "activation": "softmax"}]
    assert model_mismatch(model, spec, input_shape=(28, 28, 1), total_params=156 + 11770) is None
    wrong = [dict(s) for s in spec]
    wrong[0]["padding"] = "valid"
    assert model_mismatch(model, wrong) == "layer 1 (Conv2D): padding is 'same', the spec asks for 'valid'"
    wrong = [dict(s) for s in spec]
    wrong[2]["rate"] = 0.5
    assert "layer 3 (Dropout): rate is 0.25" in model_mismatch(model, wrong)
    assert "the model has 5 layers" in model_mismatch(model, spec[:4])
    assert "expected a keras.Model" in model_mismatch("not a model", spec)
    assert "input shape is (28, 28, 1)" in model_mismatch(model, spec, input_shape=(32, 32, 3))
