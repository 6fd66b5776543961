"""Grade a folder of submissions in parallel, one fresh kernel each, and write the gradebook.

Each submission runs in its own worker process (:mod:`cnnlab.grading.worker`) inside a
temporary working copy. The worker and its kernel are killed when the notebook's time is up;
whatever was graded before counts, the rest is marked ``timeout``. Nothing a submission does
stops the batch: every submission yields one record.
"""

from __future__ import annotations

import dataclasses
import json
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
        elif kind == "test":
            tests[event["test"]] = {k: event[k] for k in
                                    ("test", "points", "max", "status", "message", "duration")}
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
                          "message": message, "duration": 0.0}
    record["tests"] = [tests[gid] for gid in solution_tests]
    record["score"] = float(sum(t["points"] for t in record["tests"]))
    return record


def precheck(sub: Submission, solution_nb) -> list[dict] | None:
    """Return the events of a rejection when the file cannot be graded as this exercise, else None."""
    import hashlib

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


def grade_one(sub: Submission, solution: Path, limits: Limits, scratch_root: Path) -> tuple[dict, str]:
    """Run one worker under the notebook time limit; return its record and how it ended."""
    import psutil

    from cnnlab.grading.notebook_source import cell_kind, grade_id

    import nbformat

    solution_nb = nbformat.read(solution, as_version=4)
    solution_tests = {grade_id(c): float(c.metadata["nbgrader"]["points"])
                      for c in solution_nb.cells if cell_kind(c) == "test"}
    rejected = precheck(sub, solution_nb)
    if rejected:  # no kernel needed to turn this file away
        return record_from_events(sub, rejected, solution_tests, "done"), "done"
    scratch = Path(tempfile.mkdtemp(prefix=f"{safe_name(sub.student)}-", dir=scratch_root))
    workdir = scratch / "work"
    workdir.mkdir()
    job = {"submission": str(sub.path.resolve()), "solution": str(Path(solution).resolve()),
           "exercise": sub.exercise, "workdir": str(workdir), "scratch": str(scratch),
           "progress": str(scratch / "progress.jsonl"), **dataclasses.asdict(limits)}
    (scratch / "job.json").write_text(json.dumps(job), encoding="utf-8")
    worker = subprocess.Popen([sys.executable, "-m", "cnnlab.grading.worker", str(scratch / "job.json")],
                              stdout=subprocess.DEVNULL, stderr=open(scratch / "worker.log", "wb"),
                              start_new_session=True, cwd=scratch)
    try:
        worker.wait(timeout=limits.timeout)
        end = "done"
    except subprocess.TimeoutExpired:
        end = "timeout"
    # The kernel lives in its own session: kill every descendant, not only the worker.
    try:
        family = psutil.Process(worker.pid).children(recursive=True)
    except psutil.Error:
        family = []
    for process in family:
        try:
            process.kill()
        except psutil.Error:
            pass
    worker.kill()
    worker.wait()
    events = _read_events(scratch / "progress.jsonl")
    if end == "done" and not any(e.get("event") in ("done", "rejected") for e in events):
        log = (scratch / "worker.log").read_text(errors="replace").strip().splitlines()
        errors = [line for line in log if re.match(r"^\w+(\.\w+)*(Error|Exception)\b", line)]
        end = "the grader's worker failed: " + ((errors or log)[-1][:300] if log else
                                                 f"exit status {worker.returncode}")
    record = record_from_events(sub, events, solution_tests, end)
    shutil.rmtree(scratch, ignore_errors=True)
    return record, end


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


def grade_batch(subs: list[Submission], solutions: Path, limits: Limits = Limits(), jobs: int = 2,
                progress: bool = True, watch: list[Path] = ()) -> list[dict]:
    """Grade every submission, ``jobs`` at a time; return one record per submission, in order."""
    from tqdm import tqdm

    missing = sorted({s.exercise for s in subs if not (Path(solutions) / f"{s.exercise}.ipynb").is_file()})
    if missing:
        raise FileNotFoundError(f"no solution for {', '.join(missing)} in {solutions}; "
                                "the grader takes its tests from solutions/NN_topic.ipynb")
    scratch_root = Path(tempfile.mkdtemp(prefix="cnnlab-grade-"))
    watched = [Path(w) for w in watch]
    lock, before = threading.Lock(), {"state": _watched(watched)}
    bar = tqdm(total=len(subs), unit="nb", disable=not progress, file=sys.stderr)

    def one(sub: Submission) -> dict:
        started = time.monotonic()
        record, _ = grade_one(sub, Path(solutions) / f"{sub.exercise}.ipynb", limits, scratch_root)
        record["duration"] = round(time.monotonic() - started, 2)
        with lock:
            now = _watched(watched)
            changed = sorted(p for p in now.keys() | before["state"].keys()
                             if now.get(p) != before["state"].get(p))
            before["state"] = now
            if changed:
                others = " (or a submission graded at the same time)" if jobs > 1 else ""
                record["flags"].append(f"files outside the working copy changed while it ran{others}: "
                                       + ", ".join(changed[:5]))
            bar.update(1)
        return record

    try:
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            records = list(pool.map(one, subs))
    finally:
        bar.close()
        shutil.rmtree(scratch_root, ignore_errors=True)
    return records
