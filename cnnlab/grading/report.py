"""Write what the batch grader found: a JSON per submission, a gradebook CSV, feedback per student."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from cnnlab.grading.grader import safe_name

STATUS_WORDS = {"passed": "passed", "failed": "failed", "not done": "not done yet",
                "error": "your code raised an error", "timeout": "ran out of time",
                "kernel died": "the kernel died", "rejected": "not graded", "not run": "not run"}


def write_records(records: list[dict], out: Path) -> list[Path]:
    """Write ``<out>/<student>/<exercise>.json`` for each record; return the paths."""
    paths = []
    for record in records:
        path = Path(out) / safe_name(record["student"]) / f"{safe_name(record['exercise'])}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        paths.append(path)
    return paths


def write_gradebook(records: list[dict], out: Path) -> Path:
    """Write ``<out>/gradebook.csv``: one row per student, columns per exercise and per test."""
    exercises = sorted({r["exercise"] for r in records})
    tests = {e: next((r["tests"] for r in records if r["exercise"] == e), []) for e in exercises}
    columns = ["student"]
    for e in exercises:
        columns += [e, f"{e} max", f"{e} status"] + [f"{e}:{t['test']}" for t in tests[e]]
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
        reason = r.get("reason") or ("; ".join(r["flags"]) if r["flags"] else "")
        if reason:
            row["notes"].append(f"{r['exercise']}: {reason}")
    path = Path(out) / "gradebook.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for row in rows.values():
            writer.writerow({**row, "notes": " | ".join(row["notes"])})
    return path


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
        path = Path(out) / safe_name(student) / "feedback.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(feedback_text(student, own), encoding="utf-8")
        paths.append(path)
    return paths


def write_all(records: list[dict], out: Path) -> Path:
    """Write the records, the gradebook and the feedback; return the gradebook's path."""
    write_records(records, out)
    write_feedback(records, out)
    return write_gradebook(records, out)
