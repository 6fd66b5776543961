"""The batch survives: records written as they finish, --resume, --shard and merge-grades, a
killed grader, and the flags of a run without isolation."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import psutil
import pytest

from cnnlab.cli import main as cli_main
from cnnlab.grading.grader import Submission, find_submissions, grade_batch, remove_stale_scratch
from cnnlab.grading.report import load_records, write_gradebook, write_record
from cnnlab.grading.shards import merge, parse_shard, resumable, select, shard_of

ROOT = Path(__file__).resolve().parents[1]
EXERCISE = "01_perceptron_and_mlp"


@pytest.fixture(scope="module")
def trusted_cache(tmp_path_factory) -> Path:
    """An output folder whose .trusted cache holds the solution's trusted runs (computed once)."""
    out = tmp_path_factory.mktemp("cache")
    folder = tmp_path_factory.mktemp("warm")
    (folder / "nobody.ipynb").write_bytes(b"not a notebook")
    grade_batch(find_submissions(folder, [EXERCISE]), ROOT / "solutions", jobs=2, progress=False, out=out)
    assert list((out / ".trusted").glob(f"{EXERCISE}-*.json"))
    return out / ".trusted"


def _out_with_cache(tmp_path: Path, cache: Path) -> Path:
    out = tmp_path / "grades"
    shutil.copytree(cache, out / ".trusted")
    return out


def _rejected_class(folder: Path, count: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        (folder / f"student{index:02d}.ipynb").write_bytes(f"not a notebook {index}".encode())


def test_shards_are_deterministic_disjoint_and_cover_the_class():
    subs = [Submission(f"s{i}", EXERCISE, Path(f"s{i}.ipynb")) for i in range(40)]
    parts = [select(subs, k, 4) for k in range(1, 5)]
    assert sorted((s.student for part in parts for s in part), key=lambda n: int(n[1:])) == [s.student for s in subs]
    assert all(parts) and sum(map(len, parts)) == 40
    assert select(subs, 2, 4) == select(list(reversed(subs)), 2, 4)[::-1]  # order-free
    assert shard_of("s7", EXERCISE, 4) == shard_of("s7", EXERCISE, 4)
    assert select(subs[:10], 3, 4) == [s for s in select(subs, 3, 4) if s in subs[:10]]  # stable


@pytest.mark.parametrize("text", ["0/3", "4/3", "2", "a/b", ""])
def test_a_bad_shard_is_refused_with_the_form_it_takes(text, tmp_path, capsys):
    with pytest.raises(ValueError, match="K/N"):
        parse_shard(text)
    (tmp_path / "s.ipynb").write_text("{}")
    assert cli_main(["grade", str(tmp_path), "--exercise", EXERCISE, "--shard", text or "x"]) == 2
    assert "--shard" in capsys.readouterr().err


def _record(student: str, score: float, graded_at: str = "2026-01-01T00:00:00Z", sha: str = "a") -> dict:
    return {"student": student, "exercise": EXERCISE, "file": f"{student}.ipynb", "sha256": sha,
            "status": "graded", "score": score, "max": 12.0, "notes": [], "flags": [], "graded_at": graded_at,
            "tests": [{"test": "test_softmax", "points": score, "max": 12.0, "status": "passed",
                       "message": "", "duration": 0.1, "kernel_judged": 0}]}


def test_gradebook_has_a_column_for_every_test_any_record_has(tmp_path):
    """Records may list different tests (a row with none, a solution edited between shards)."""
    rejected = {**_record("a_rejected", 0.0), "status": "rejected", "tests": []}
    newer = _record("b_newer", 5.0)
    newer["tests"].append({**newer["tests"][0], "test": "test_added_later", "points": 2.0})
    path = write_gradebook([rejected, _record("c_older", 3.0), newer], tmp_path)
    with path.open() as handle:
        rows = {r["student"]: r for r in csv.DictReader(handle)}
    assert rows["b_newer"][f"{EXERCISE}:test_added_later"] == "2.0"
    assert rows["c_older"][f"{EXERCISE}:test_softmax"] == "3.0"
    assert rows["c_older"][f"{EXERCISE}:test_added_later"] == ""


def test_merge_joins_shard_outputs_into_one_gradebook(tmp_path, capsys):
    for index in range(6):
        write_record(_record(f"s{index}", float(index)), tmp_path / f"shard{index % 3}")
    write_record(_record("s1", 9.0, "2026-02-01T00:00:00Z", sha="b"), tmp_path / "shard2")  # regraded later
    gradebook, records, warnings = merge([tmp_path / f"shard{k}" for k in range(3)], tmp_path / "all")
    with gradebook.open() as handle:
        rows = {r["student"]: r for r in csv.DictReader(handle)}
    assert sorted(rows) == [f"s{i}" for i in range(6)]
    assert float(rows["s1"][EXERCISE]) == 9.0 and len(warnings) == 1 and "s1" in warnings[0]
    assert (tmp_path / "all" / "s4" / f"{EXERCISE}.json").is_file()
    assert cli_main(["merge-grades", str(tmp_path / "shard0"), str(tmp_path / "nowhere"),
                     "--out", str(tmp_path / "x")]) == 2
    assert "nowhere is not a folder" in capsys.readouterr().err


def test_sharded_runs_merge_to_the_unsharded_gradebook(trusted_cache, tmp_path, capsys):
    _rejected_class(tmp_path / "class", 7)
    out = _out_with_cache(tmp_path, trusted_cache)
    for k in (1, 2):
        assert cli_main(["grade", str(tmp_path / "class"), "--exercise", EXERCISE, "--shard", f"{k}/2",
                         "--out", str(out), "--no-progress", "--solutions", str(ROOT / "solutions")]) == 0
    assert (out / "gradebook-shard-1-of-2.csv").is_file() and (out / "gradebook-shard-2-of-2.csv").is_file()
    assert cli_main(["merge-grades", str(out), "--out", str(tmp_path / "merged")]) == 0
    with (tmp_path / "merged" / "gradebook.csv").open() as handle:
        assert len(list(csv.DictReader(handle))) == 7
    assert "Shard 1 of 2" in capsys.readouterr().out


def test_resume_keeps_finished_records_and_grades_what_is_missing_or_changed(trusted_cache, tmp_path,
                                                                            capsys, monkeypatch):
    import cnnlab.grading.grader as grader

    _rejected_class(tmp_path / "class", 3)
    out = _out_with_cache(tmp_path, trusted_cache)
    args = ["grade", str(tmp_path / "class"), "--exercise", EXERCISE, "--out", str(out), "--no-progress",
            "--solutions", str(ROOT / "solutions")]
    assert cli_main(args) == 0
    first = {r["student"]: r for r in load_records(out)}
    (out / "student01" / f"{EXERCISE}.json").unlink()  # as if the grader had died before it
    (tmp_path / "class" / "student02.ipynb").write_bytes(b"handed in again")  # a changed file
    graded = []
    real = grader.grade_one
    monkeypatch.setattr(grader, "grade_one", lambda sub, *a: graded.append(sub.student) or real(sub, *a))
    assert cli_main(args + ["--resume"]) == 0
    assert "Resuming: 1 of 3 submissions already graded" in capsys.readouterr().out
    assert sorted(graded) == ["student01", "student02"]
    second = {r["student"]: r for r in load_records(out)}
    assert second["student00"] == first["student00"]  # kept as it was
    assert second["student02"]["sha256"] != first["student02"]["sha256"]  # regraded
    assert set(second) == {"student00", "student01", "student02"}


def test_without_isolation_the_report_and_every_row_say_so(trusted_cache, tmp_path, capsys):
    _rejected_class(tmp_path / "class", 2)
    out = _out_with_cache(tmp_path, trusted_cache)
    assert cli_main(["grade", str(tmp_path / "class"), "--exercise", EXERCISE, "--out", str(out),
                     "--no-progress", "--no-isolation", "--solutions", str(ROOT / "solutions")]) == 0
    captured = capsys.readouterr()
    assert "Isolation: turned off" in captured.out and "not isolated" in captured.err
    for record in load_records(out):
        assert any(flag.startswith("not isolated") for flag in record["flags"])
    with (out / "gradebook.csv").open() as handle:
        assert all("not isolated" in row["notes"] for row in csv.DictReader(handle))


SLOW_ANSWER = "import threading\n\ndef perceptron_train(*args, **kwargs):\n    threading.Event().wait()"


def _kernels_of(process: psutil.Process) -> list[psutil.Process]:
    return [p for p in process.children(recursive=True)
            if p.cmdline()[1:3] == ["-m", "cnnlab.grading.kernel"]]


def test_a_killed_grader_keeps_finished_records_and_leaves_no_process(trusted_cache, tmp_path):
    from cnnlab.grading.notebook_source import cell_kind, exercise_from_solution, grade_id

    folder = tmp_path / "class"
    _rejected_class(folder, 1)
    solution = nbformat.read(ROOT / "solutions" / f"{EXERCISE}.ipynb", as_version=4)
    slow = exercise_from_solution(solution, EXERCISE)
    for cell in slow.cells:
        if cell_kind(cell) == "answer" and grade_id(cell) == "perceptron_train":
            cell.source = SLOW_ANSWER
    nbformat.write(slow, folder / "slowpoke.ipynb")
    out = _out_with_cache(tmp_path, trusted_cache)
    grader = subprocess.Popen([sys.executable, "-m", "cnnlab.cli", "grade", str(folder), "--exercise", EXERCISE,
                               "--out", str(out), "--no-progress", "--cell-timeout", "900", "--timeout", "900",
                               "--solutions", str(ROOT / "solutions")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    process = psutil.Process(grader.pid)
    finished = out / "student00" / f"{EXERCISE}.json"
    while not (finished.exists() and _kernels_of(process)):  # events: one record done, one kernel up
        assert grader.poll() is None, "the grader ended on its own"
        time.sleep(0.2)  # polling events, not timing a verdict
    family = process.children(recursive=True)
    scratch = [p for p in Path("/tmp").glob(f"cnnlab-grade-{grader.pid}-*")]
    grader.send_signal(signal.SIGKILL)
    grader.wait()
    _, alive = psutil.wait_procs(family, timeout=30)
    survivors = [p.cmdline() for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    for p in alive:
        p.kill()
    assert survivors == []
    record = json.loads(finished.read_text())  # whole, not cut short
    assert record["status"] == "rejected" and record["student"] == "student00"
    subs = find_submissions(folder, [EXERCISE])
    assert set(resumable(subs, out, ROOT / "solutions")) == {("student00", EXERCISE)}
    assert scratch and all(p.exists() for p in scratch)
    remove_stale_scratch()  # the next grader cleans up after the killed one
    assert not any(p.exists() for p in scratch)
    assert os.path.exists(out / ".trusted")


def _random_reference_solution() -> nbformat.NotebookNode:
    """A test without random draws, then one whose expected value comes from unseeded draws."""
    from cnnlab.grading.notebook_source import mark_answer, mark_locked, mark_test

    fixed = 'with check("first") as c:\n    c.array(double(np.array([1.0, 2.0])), [2.0, 4.0])\n'
    drawn = ('with check("second") as c:\n    r = np.random.random(3)\n'
             '    c.array(double(r), 2 * r, what="twice the draws")\n'
             '    c.array(double(np.array([1.0, 2.0])), [2.0, 4.0], what="fixed")\n')
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        mark_locked(nbformat.v4.new_code_cell("import numpy as np\nfrom cnnlab.grading import check"), "setup"),
        mark_answer(nbformat.v4.new_code_cell("def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n"
                                              "    ### END SOLUTION"), "double"),
        mark_test(nbformat.v4.new_code_cell(fixed), "test_first", points=1),
        mark_test(nbformat.v4.new_code_cell(drawn), "test_second", points=1),
    ]
    return nb


def test_expected_values_from_random_draws_are_found_and_judged_in_the_kernel(tmp_path):
    solutions = tmp_path / "solutions"
    solutions.mkdir()
    nbformat.write(_random_reference_solution(), solutions / "99_random.ipynb")
    folder = tmp_path / "class"
    folder.mkdir()
    shutil.copy(solutions / "99_random.ipynb", folder / "kim.ipynb")
    [row] = grade_batch(find_submissions(folder, ["99_random"]), solutions, jobs=1, progress=False,
                        out=tmp_path / "grades")
    assert [(t["status"], t["kernel_judged"]) for t in row["tests"]] == [("passed", 0), ("passed", 1)], row
    [trusted] = (tmp_path / "grades" / ".trusted").glob("99_random-*.json")
    data = json.loads(trusted.read_text())
    # The second test starts where the first one's reseeded run left the generators: its own
    # reseeded run must still see different draws.
    assert data["test_first"]["fixed"] == [True] and data["test_second"]["fixed"] == [False, True]
    assert data["test_second"]["strip"] == [4]  # only the fixed check's expected is withheld
