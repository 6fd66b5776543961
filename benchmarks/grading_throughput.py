"""Grade a generated batch of submissions and print how many are graded per minute.

    .venv/bin/python benchmarks/grading_throughput.py [--count 8] [--jobs 2] [--exercise NAME]

The batch mixes full solutions, untouched exercises and half-done notebooks of one exercise
(a Keras one by default). Each submission gets a fresh, isolated kernel, as in ``cnnlab grade``,
so the figure is dominated by starting a kernel and importing Keras and its backend. The
measured time includes the solution's two trusted runs (nothing is cached between runs of this
script). The target is 10 submissions per minute on 2 cores, with isolation on.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import nbformat

from cnnlab.grading.grader import Limits, find_submissions, grade_batch
from cnnlab.grading.isolation import probe
from cnnlab.grading.notebook_source import cell_kind, exercise_from_solution, grade_id, source_text

ROOT = Path(__file__).resolve().parents[1]
TARGET_PER_MINUTE = 10


def make_batch(folder: Path, exercise: str, count: int) -> None:
    """Write ``count`` submissions: solved, untouched and half-done, in turn."""
    solution = nbformat.read(ROOT / "solutions" / f"{exercise}.ipynb", as_version=4)
    answers = {grade_id(c): source_text(c) for c in solution.cells if cell_kind(c) == "answer"}
    half = dict(list(answers.items())[: len(answers) // 2])
    for index in range(count):
        nb = exercise_from_solution(solution, exercise)
        filled = (answers, {}, half)[index % 3]
        for cell in nb.cells:
            if cell_kind(cell) == "answer" and grade_id(cell) in filled:
                cell.source = filled[grade_id(cell)]
        path = folder / f"student{index:03d}" / f"{exercise}.ipynb"
        path.parent.mkdir(parents=True)
        nbformat.write(nb, path)


def main() -> None:
    """Grade the batch and print submissions per minute and the ratio to the target."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=8)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--exercise", default="01_perceptron_and_mlp")
    parser.add_argument("--backend", default="tensorflow")
    parser.add_argument("--no-isolation", action="store_true", help="measure without namespaces")
    args = parser.parse_args()
    isolation = probe()
    if not args.no_isolation and not isolation.active:
        print(f"warning: {isolation.summary}; measuring without isolation")
    with tempfile.TemporaryDirectory() as tmp:
        make_batch(Path(tmp) / "submissions", args.exercise, args.count)
        subs = find_submissions(Path(tmp) / "submissions", [args.exercise])
        started = time.perf_counter()
        records = grade_batch(subs, ROOT / "solutions", Limits(backend=args.backend), jobs=args.jobs,
                              out=Path(tmp) / "grades", isolate=not args.no_isolation)
        minutes = (time.perf_counter() - started) / 60
    expected = {0: "solved", 1: "untouched", 2: "half"}
    scores = [(expected[i % 3], r["score"], r["max"]) for i, r in enumerate(records)]
    wrong = [s for s in scores if (s[0] == "solved") != (s[1] == s[2]) or (s[0] == "untouched" and s[1])]
    graded = sum(r["status"] == "graded" for r in records)
    rate = len(records) / minutes
    print(f"{args.exercise}: {len(records)} submissions ({graded} graded) with -j {args.jobs} on "
          f"{os.cpu_count()} CPU cores, backend {args.backend}, load average "
          f"{os.getloadavg()[0]:.1f} at the end")
    print(records[0]["isolation"])
    if wrong:
        print(f"warning: unexpected scores (kind, score, max): {wrong}")
    print(f"{rate:.1f} submissions per minute = {rate / TARGET_PER_MINUTE:.2f} x the target of "
          f"{TARGET_PER_MINUTE} per minute")


if __name__ == "__main__":
    main()
