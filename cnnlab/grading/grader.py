"""Grade a folder of submissions in parallel, one fresh kernel each, and write the gradebook.

Each submission runs in its own worker process (:mod:`cnnlab.grading.worker`) inside a
temporary working copy, its kernel isolated (:mod:`cnnlab.grading.isolation`). The worker and
its kernel are killed when the notebook's time is up; whatever was graded before counts, the
rest is marked ``timeout``. Verdicts compare what the kernel hands back with the solution's
trusted run (:mod:`cnnlab.grading.trusted`). Nothing a submission does stops the batch: every
submission yields one record, written as soon as it is finished.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


MAX_NOTEBOOK_MB = 50
TEST_FIELDS = ("test", "points", "max", "status", "message", "duration", "kernel_judged")


@dataclasses.dataclass(frozen=True)
class Submission:
    """One student's file for one exercise."""

    student: str
    exercise: str
    path: Path


@dataclasses.dataclass(frozen=True)
class Limits:
    """Time and memory a submission gets."""

    cell_timeout: float = 60.0
    timeout: float = 300.0
    memory_mb: int = 4096
    file_mb: int = 64
    backend: str = "tensorflow"
    profile: str = "smoke"


def safe_name(text: str) -> str:
    """Return ``text`` usable as a file name: letters, digits, dot, dash and underscore.

    >>> safe_name("Kim Min-jun/../x")
    'Kim_Min-jun_.._x'
    """
    return re.sub(r"[^A-Za-z0-9._-]", "_", text).strip(".") or "_"


def find_submissions(folder: Path, exercises: list[str]) -> list[Submission]:
    """Return the submissions in ``folder``: ``<student>/<exercise>.ipynb``, or, for a single
    exercise, also ``<student>.ipynb`` directly in the folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder; pass the folder holding the submissions")
    found = []
    for student_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        for exercise in exercises:
            path = student_dir / f"{exercise}.ipynb"
            if path.is_file():
                found.append(Submission(student_dir.name, exercise, path))
    if len(exercises) == 1:
        for path in sorted(folder.glob("*.ipynb")):
            found.append(Submission(path.stem, exercises[0], path))
    return found


def _read_events(progress: Path) -> list[dict]:
    events = []
    if progress.exists():
        for line in progress.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                events.append(json.loads(line))
            except ValueError:
                pass  # a line cut short by a kill
    return events


def record_from_events(sub: Submission, events: list[dict], solution_tests: dict, end: str) -> dict:
    """Return a submission's record from its worker's events; ``end`` says how the worker ended."""
    record = {"student": sub.student, "exercise": sub.exercise, "file": str(sub.path),
              "sha256": "", "status": "graded", "score": 0.0,
              "max": float(sum(solution_tests.values())), "tests": [], "notes": [], "flags": []}
    tests = {}
    for event in events:
        kind = event.get("event")
        if kind == "start":
            record["sha256"] = event.get("sha256", "")
        elif kind == "rejected":
            record.update(status="rejected", reason=event.get("reason", ""))
        elif kind == "plan":
            record["notes"] += event.get("notes", [])
            record["flags"] += event.get("flags", [])
        elif kind == "test" and event.get("test") in solution_tests:
            tests[event["test"]] = {k: event.get(k, 0) for k in TEST_FIELDS}
            tests[event["test"]]["max"] = solution_tests[event["test"]]  # never the worker's word
        elif kind == "note":
            record["notes"].append(event["note"])
        elif kind == "flag":
            record["flags"].append(event["flag"])
    if end != "done" and record["status"] != "rejected":
        record["status"] = "timeout" if end == "timeout" else "error"
        record["notes"].append(end if end != "timeout" else
                               "the notebook ran past its time limit and was stopped")
    for gid, points in solution_tests.items():
        if gid not in tests:
            status = "rejected" if record["status"] == "rejected" else (
                "timeout" if end == "timeout" else "not run")
            message = record.get("reason") or (record["notes"][-1] if record["notes"] else "")
            tests[gid] = {"test": gid, "points": 0.0, "max": points, "status": status,
                          "message": message, "duration": 0.0, "kernel_judged": 0}
    record["tests"] = [tests[gid] for gid in solution_tests]
    record["score"] = float(sum(t["points"] for t in record["tests"]))
    return record


def precheck(sub: Submission, solution_nb) -> list[dict] | None:
    """Return the events of a rejection when the file cannot be graded as this exercise, else None."""
    from cnnlab.grading.assemble import Rejected, assemble, read_submission

    size = sub.path.stat().st_size
    if size > MAX_NOTEBOOK_MB << 20:
        return [{"event": "rejected", "reason": (
            f"the file is {size / 2**20:.0f} MB, over the {MAX_NOTEBOOK_MB} MB a notebook may have; "
            "clear its outputs (Edit > Clear Outputs of All Cells), save and hand it in again")}]
    raw = sub.path.read_bytes()
    start = {"event": "start", "sha256": hashlib.sha256(raw).hexdigest()}
    try:
        assemble(solution_nb, read_submission(raw), sub.exercise)
    except Rejected as reason:
        return [start, {"event": "rejected", "reason": str(reason)}]
    return None


_ACTIVE: set = set()  # running workers, killed if the grader is interrupted
_ACTIVE_LOCK = threading.Lock()


def kill_tree(pid: int) -> None:
    """Kill a process and every descendant it has (the worker and its kernel)."""
    import psutil

    try:
        root = psutil.Process(pid)
        family = root.children(recursive=True) + [root]
    except psutil.Error:
        return
    for process in family:
        try:
            process.kill()
        except psutil.Error:
            pass


def kill_active() -> None:
    """Kill every running worker with its kernel (the grader is stopping)."""
    with _ACTIVE_LOCK:
        for worker in list(_ACTIVE):
            kill_tree(worker.pid)


def run_worker(job: dict, limits: Limits, scratch_root: Path, label: str) -> tuple[list[dict], str]:
    """Run one worker on ``job`` under the notebook time limit; return its events and how it ended."""
    scratch = Path(tempfile.mkdtemp(prefix=f"{safe_name(label)[:24]}-", dir=scratch_root))
    workdir = scratch / "work"
    workdir.mkdir()
    job = {**job, "workdir": str(workdir), "scratch": str(scratch), "parent": os.getpid(),
           "progress": str(scratch / "progress.jsonl"), **dataclasses.asdict(limits)}
    (scratch / "job.json").write_text(json.dumps(job), encoding="utf-8")
    with open(scratch / "worker.log", "wb") as log:
        worker = subprocess.Popen([sys.executable, "-m", "cnnlab.grading.worker", str(scratch / "job.json")],
                                  stdout=subprocess.DEVNULL, stderr=log, stdin=subprocess.DEVNULL,
                                  start_new_session=True, cwd=scratch)
    with _ACTIVE_LOCK:
        _ACTIVE.add(worker)
    try:
        worker.wait(timeout=limits.timeout)
        end = "done"
    except subprocess.TimeoutExpired:
        end = "timeout"
    finally:
        kill_tree(worker.pid)  # the kernel and anything it started go with the worker
        worker.wait()
        with _ACTIVE_LOCK:
            _ACTIVE.discard(worker)
    events = _read_events(scratch / "progress.jsonl")
    if end == "done" and not any(e.get("event") in ("done", "rejected") for e in events):
        log = (scratch / "worker.log").read_text(errors="replace").strip().splitlines()
        errors = [line for line in log if re.match(r"^\w+(\.\w+)*(Error|Exception)\b", line)]
        end = "the grader's worker failed: " + ((errors or log)[-1][:300] if log else
                                                 f"exit status {worker.returncode}")
    shutil.rmtree(scratch, ignore_errors=True)
    return events, end


def solution_tests(solution: Path) -> dict[str, float]:
    """Return {test grade_id: points} of a solution notebook, in order."""
    import nbformat

    from cnnlab.grading.notebook_source import cell_kind, grade_id

    nb = nbformat.read(solution, as_version=4)
    return {grade_id(c): float(c.metadata["nbgrader"]["points"]) for c in nb.cells if cell_kind(c) == "test"}


def grade_one(sub: Submission, solution: Path, limits: Limits, scratch_root: Path,
              trusted: Path, isolate: bool) -> dict:
    """Grade one submission in a worker against the exercise's trusted data; return its record."""
    import nbformat

    tests = solution_tests(solution)
    rejected = precheck(sub, nbformat.read(solution, as_version=4))
    if rejected:  # no kernel needed to turn this file away
        return record_from_events(sub, rejected, tests, "done")
    job = {"submission": str(sub.path.resolve()), "solution": str(Path(solution).resolve()),
           "exercise": sub.exercise, "trusted": str(trusted), "isolate": isolate, "mode": "submission"}
    events, end = run_worker(job, limits, scratch_root, sub.student)
    return record_from_events(sub, events, tests, end)


def trusted_runner(solution: Path, exercise: str, limits: Limits, scratch_root: Path, isolate: bool):
    """Return ``run()`` for :func:`cnnlab.grading.trusted.trusted_data`: the solution's run."""
    def run():
        job = {"submission": str(Path(solution).resolve()), "solution": str(Path(solution).resolve()),
               "exercise": exercise, "trusted": None, "isolate": isolate, "mode": "trusted"}
        timed = dataclasses.replace(limits, timeout=max(limits.timeout, 600),
                                    cell_timeout=max(limits.cell_timeout, 120))
        events, _ = run_worker(job, timed, scratch_root, "solution")
        found = {e["test"]: {k: e.get(k) for k in ("blocks", "error", "reseeded")}
                 for e in events if e.get("event") == "trusted"}
        return solution_tests(solution), found
    return run


def _watched(folders: list[Path]) -> dict[str, tuple[int, int]]:
    """Return {path: (size, mtime)} for every file under ``folders``."""
    state = {}
    for folder in folders:
        for path in Path(folder).rglob("*") if Path(folder).is_dir() else []:
            try:
                stat = path.stat()
                state[str(path)] = (stat.st_size, stat.st_mtime_ns)
            except OSError:
                pass
    return state


def remove_stale_scratch() -> None:
    """Remove scratch folders of earlier graders that were killed before they could clean up."""
    import psutil

    for folder in Path(tempfile.gettempdir()).glob("cnnlab-grade-*-*"):
        pid = folder.name.split("-")[2]
        if pid.isdigit() and not psutil.pid_exists(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def grade_batch(subs: list[Submission], solutions: Path, limits: Limits = Limits(), jobs: int = 2,
                progress: bool = True, watch: list[Path] = (), out: Path | None = None,
                isolate: bool = True, done: dict | None = None) -> list[dict]:
    """Grade every submission, ``jobs`` at a time; return one record per submission, in order.

    Each record is written to ``out`` as soon as it is finished (when ``out`` is given);
    ``done`` maps (student, exercise) to records kept from an earlier run (``--resume``).
    """
    from tqdm import tqdm

    from cnnlab.grading.isolation import Isolation, probe
    from cnnlab.grading.report import write_record
    from cnnlab.grading.trusted import trusted_data

    missing = sorted({s.exercise for s in subs if not (Path(solutions) / f"{s.exercise}.ipynb").is_file()})
    if missing:
        raise FileNotFoundError(f"no solution for {', '.join(missing)} in {solutions}; "
                                "the grader takes its tests from solutions/NN_topic.ipynb")
    done = dict(done or {})
    isolation = probe() if isolate else Isolation(False, "not isolated: turned off (--no-isolation)")
    remove_stale_scratch()
    scratch_root = Path(tempfile.mkdtemp(prefix=f"cnnlab-grade-{os.getpid()}-"))
    watched = [Path(w) for w in watch]
    lock, before = threading.Lock(), {"state": _watched(watched)}
    todo = [s for s in subs if (s.student, s.exercise) not in done]
    bar = tqdm(total=len(todo), unit="nb", disable=not progress, file=sys.stderr)
    trusted_paths: dict[str, Path] = {}

    def prepare(exercise: str) -> None:
        solution = Path(solutions) / f"{exercise}.ipynb"
        run = trusted_runner(solution, exercise, limits, scratch_root, isolation.active)
        cache = Path(out) / ".trusted" if out is not None else None
        data = trusted_data(solution, exercise, run, cache, limits.backend, limits.profile)
        path = scratch_root / f"trusted-{safe_name(exercise)}.json"
        path.write_text(json.dumps(data), encoding="utf-8")
        trusted_paths[exercise] = path

    def one(sub: Submission) -> dict:
        started = time.monotonic()
        solution = Path(solutions) / f"{sub.exercise}.ipynb"
        record = grade_one(sub, solution, limits, scratch_root, trusted_paths[sub.exercise],
                           isolation.active)
        record["duration"] = round(time.monotonic() - started, 2)
        record["isolation"] = isolation.summary
        record["solution_sha256"] = hashlib.sha256(solution.read_bytes()).hexdigest()
        record["graded_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        if not isolation.active:
            record["flags"].append(isolation.summary)
        with lock:
            now = _watched(watched)
            changed = sorted(p for p in now.keys() | before["state"].keys()
                             if now.get(p) != before["state"].get(p))
            before["state"] = now
            if changed:
                others = " (or a submission graded at the same time)" if jobs > 1 else ""
                record["flags"].append(f"files outside the working copy changed while it ran{others}: "
                                       + ", ".join(changed[:5]))
            if out is not None:
                write_record(record, out)
            bar.update(1)
        return record

    try:
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            list(pool.map(prepare, sorted({s.exercise for s in todo})))
            fresh = dict(zip(todo, pool.map(one, todo)))
    except BaseException:
        kill_active()
        raise
    finally:
        bar.close()
        shutil.rmtree(scratch_root, ignore_errors=True)
    return [fresh[s] if s in fresh else done[(s.student, s.exercise)] for s in subs]
