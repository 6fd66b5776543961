"""Write what the batch grader found: a JSON per submission, a gradebook CSV, feedback per student."""

from __future__ import annotations

import csv
import io
import json
import os
import threading
from pathlib import Path

from cnnlab.grading.grader import safe_name

STATUS_WORDS = {"passed": "passed", "failed": "failed", "not done": "not done yet",
                "error": "your code raised an error", "timeout": "ran out of time",
                "kernel died": "the kernel died", "rejected": "not graded", "not run": "not run"}


def record_path(out: Path, student: str, exercise: str) -> Path:
    """Return where a record is written: ``<out>/<student>/<exercise>.json``."""
    return Path(out) / safe_name(student) / f"{safe_name(exercise)}.json"


def atomic_write(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file and a rename: never half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)
    return path


def write_record(record: dict, out: Path) -> Path:
    """Write one record (atomically) as soon as it is finished; return its path."""
    return atomic_write(record_path(out, record["student"], record["exercise"]),
                        json.dumps(record, indent=1, ensure_ascii=False) + "\n")


def write_records(records: list[dict], out: Path) -> list[Path]:
    """Write ``<out>/<student>/<exercise>.json`` for each record; return the paths."""
    return [write_record(record, out) for record in records]


def load_records(folder: Path) -> list[dict]:
    """Return every record found under ``folder`` (``<student>/<exercise>.json``), sorted."""
    records = []
    for path in sorted(Path(folder).glob("*/*.json")):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(record, dict) and {"student", "exercise", "tests", "score"} <= record.keys():
            records.append(record)
    return records


def row_reason(record: dict) -> str:
    """Return, in a few words, why a record lost marks and what deserves a look."""
    if record["status"] == "rejected":
        parts = [f"rejected: {record.get('reason', '')}"]
    else:
        parts = [] if record["status"] == "graded" else [f"stopped early ({record['status']})"]
        for test in record["tests"]:
            if test["status"] != "passed":
                parts.append(f"{test['test']} {test['status']}: {test['message'][:160]}".rstrip(": "))
    parts += record.get("notes", []) + record.get("flags", [])
    seen, kept = set(), []
    for part in parts:
        if part and part not in seen:
            seen.add(part)
            kept.append(part)
    return "; ".join(kept)


def write_gradebook(records: list[dict], out: Path, name: str = "gradebook.csv") -> Path:
    """Write ``<out>/gradebook.csv``: one row per student, columns per exercise and per test."""
    exercises = sorted({r["exercise"] for r in records})
    # Every test any record of the exercise has, in order: records can differ (a solution
    # edited between two runs merged with --resume or merge-grades, a row with no tests).
    tests = {e: list(dict.fromkeys(t["test"] for r in records if r["exercise"] == e for t in r["tests"]))
             for e in exercises}
    columns = ["student"]
    for e in exercises:
        columns += [e, f"{e} max", f"{e} status"] + [f"{e}:{t}" for t in tests[e]]
    columns += ["total", "notes"]
    rows: dict[str, dict] = {}
    for r in sorted(records, key=lambda r: (r["student"], r["exercise"])):
        row = rows.setdefault(r["student"], {"student": r["student"], "total": 0.0, "notes": []})
        row[r["exercise"]] = r["score"]
        row[f"{r['exercise']} max"] = r["max"]
        row[f"{r['exercise']} status"] = r["status"]
        for t in r["tests"]:
            row[f"{r['exercise']}:{t['test']}"] = t["points"]
        row["total"] += r["score"]
        reason = row_reason(r)
        if reason:
            row["notes"].append(f"{r['exercise']}: {reason}")
    handle = io.StringIO()
    writer = csv.DictWriter(handle, fieldnames=columns)
    writer.writeheader()
    for row in rows.values():
        writer.writerow({**row, "notes": " | ".join(row["notes"])})
    return atomic_write(Path(out) / name, handle.getvalue())


def feedback_text(student: str, records: list[dict]) -> str:
    """Return a student's feedback in Markdown: per exercise, each test's result and why."""
    lines = [f"# Feedback for {student}", ""]
    for r in sorted(records, key=lambda r: r["exercise"]):
        lines += [f"## {r['exercise']}: {r['score']:g} / {r['max']:g} points", ""]
        if r["status"] == "rejected":
            lines += [f"Not graded: {r['reason']}", ""]
            continue
        if r["status"] != "graded":
            lines += [f"Grading stopped early ({r['status']}); the tests it did not reach score 0.", ""]
        for t in r["tests"]:
            line = f"- `{t['test']}` ({t['points']:g}/{t['max']:g}): {STATUS_WORDS.get(t['status'], t['status'])}"
            lines.append(line + (f". {t['message']}" if t["message"] and t["status"] != "passed" else ""))
        for note in r["notes"] + r["flags"]:
            lines.append(f"- Note: {note}")
        lines.append("")
    if any(r["status"] != "rejected" for r in records):
        lines.append("Hidden tests check more than the visible ones; the messages above say what they found.")
    return "\n".join(lines) + "\n"


def write_feedback(records: list[dict], out: Path) -> list[Path]:
    """Write ``<out>/<student>/feedback.md`` for every student; return the paths."""
    by_student: dict[str, list[dict]] = {}
    for r in records:
        by_student.setdefault(r["student"], []).append(r)
    paths = []
    for student, own in by_student.items():
        paths.append(atomic_write(Path(out) / safe_name(student) / "feedback.md",
                                  feedback_text(student, own)))
    return paths


def write_all(records: list[dict], out: Path, gradebook: str = "gradebook.csv") -> Path:
    """Write the records, the gradebook and the feedback; return the gradebook's path."""
    write_records(records, out)
    write_feedback(records, out)
    return write_gradebook(records, out, gradebook)
