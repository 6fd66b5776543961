"""The ``cnnlab`` command: ``make-exercises [--check]``, ``grade FOLDER ...`` and ``merge-grades``."""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path


# What pyproject's [grade] extra installs; a plain `pip install cnnlab` lacks these.
GRADE_EXTRA = ("nbformat", "nbclient", "psutil", "tqdm")


def grade_command(argv: list[str]) -> int:
    """Grade a folder of submissions and write JSON records, gradebook.csv and feedback."""
    from cnnlab.grading.grader import Limits, find_submissions, grade_batch
    from cnnlab.grading.isolation import probe
    from cnnlab.grading.report import load_records, write_all
    from cnnlab.grading.shards import parse_shard, resumable, select

    parser = argparse.ArgumentParser(prog="cnnlab grade", description=(
        "Grade submitted notebooks, each in a fresh isolated kernel, with the tests of solutions/. "
        "Submissions are FOLDER/<student>/<exercise>.ipynb, or FOLDER/<student>.ipynb "
        "when one --exercise is given."))
    parser.add_argument("folder", type=Path, help="the folder holding the submissions")
    parser.add_argument("--exercise", action="append", required=True,
                        help="exercise name, e.g. 01_perceptron_and_mlp (repeat for more)")
    parser.add_argument("--solutions", type=Path, default=Path("solutions"),
                        help="folder of solution notebooks (default: ./solutions)")
    parser.add_argument("--out", type=Path, default=Path("grades"), help="output folder (default: ./grades)")
    parser.add_argument("-j", "--jobs", type=int, default=2, help="submissions graded at once (default 2)")
    parser.add_argument("--cell-timeout", type=float, default=60, help="seconds per cell (default 60)")
    parser.add_argument("--timeout", type=float, default=300, help="seconds per notebook (default 300)")
    parser.add_argument("--memory-mb", type=int, default=4096,
                        help="memory cap per kernel in MB (address space; default 4096)")
    parser.add_argument("--backend", default="tensorflow", choices=["tensorflow", "jax"],
                        help="Keras backend in the grading kernels (default tensorflow)")
    parser.add_argument("--shard", metavar="K/N",
                        help="grade only shard K of N (deterministic; join the outputs with merge-grades)")
    parser.add_argument("--resume", action="store_true",
                        help="keep the records already in --out for unchanged files; grade the rest")
    parser.add_argument("--no-isolation", action="store_true",
                        help="run kernels without Linux namespaces (every row is flagged)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    args = parser.parse_args(argv)
    exercises = [e.removesuffix(".ipynb") for e in args.exercise]
    try:
        shard = parse_shard(args.shard) if args.shard else None
        subs = find_submissions(args.folder, exercises)
    except (ValueError, FileNotFoundError) as error:
        print(error, file=sys.stderr)
        return 2
    if not subs:
        print(f"No submissions for {', '.join(exercises)} in {args.folder}: expected "
              f"{args.folder}/<student>/<exercise>.ipynb", file=sys.stderr)
        return 1
    gradebook_name = "gradebook.csv"
    if shard:
        subs = select(subs, *shard)
        gradebook_name = f"gradebook-shard-{shard[0]}-of-{shard[1]}.csv"
        print(f"Shard {shard[0]} of {shard[1]}: {len(subs)} submissions.")
    done = {}
    if args.resume:
        done = resumable(subs, args.out, args.solutions)
        print(f"Resuming: {len(done)} of {len(subs)} submissions already graded in {args.out}.")
    limits = Limits(cell_timeout=args.cell_timeout, timeout=args.timeout,
                    memory_mb=args.memory_mb, backend=args.backend)
    isolation = probe() if not args.no_isolation else None
    print("Isolation: " + (isolation.summary if isolation else "turned off (--no-isolation)"))
    try:
        records = grade_batch(subs, args.solutions, limits, jobs=args.jobs,
                              progress=not args.no_progress, out=args.out, done=done,
                              isolate=not args.no_isolation,
                              watch=[args.folder, args.solutions])
    except FileNotFoundError as error:  # no solution for an exercise: say which, no traceback
        print(error, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        wanted = {(s.student, s.exercise) for s in subs}
        finished = [r for r in load_records(args.out) if (r["student"], r["exercise"]) in wanted]
        if finished:
            write_all(finished, args.out, gradebook_name)
        print(f"\nInterrupted: {len(finished)} of {len(subs)} submissions are graded and saved in "
              f"{args.out}; run the same command with --resume to grade the rest.", file=sys.stderr)
        return 130
    gradebook = write_all(records, args.out, gradebook_name)
    graded = sum(r["status"] == "graded" for r in records)
    print(f"Graded {graded} of {len(records)} submissions "
          f"({len(records) - graded} rejected or stopped early; see their notes).")
    if isolation is None or not isolation.active:
        print("Warning: kernels were not isolated; every row is flagged.", file=sys.stderr)
    print(f"Gradebook: {gradebook}\nPer-submission JSON and feedback.md: {args.out}/<student>/")
    return 0


def merge_command(argv: list[str]) -> int:
    """Join the outputs of ``cnnlab grade --shard`` runs into one gradebook."""
    from cnnlab.grading.shards import merge

    parser = argparse.ArgumentParser(prog="cnnlab merge-grades", description=(
        "Join grading outputs (e.g. one per --shard) into one gradebook.csv with feedback."))
    parser.add_argument("folders", type=Path, nargs="+", help="output folders of cnnlab grade")
    parser.add_argument("--out", type=Path, required=True, help="folder for the joined gradebook")
    args = parser.parse_args(argv)
    try:
        gradebook, records, warnings = merge(args.folders, args.out)
    except FileNotFoundError as error:
        print(error, file=sys.stderr)
        return 2
    for warning in warnings:
        print(f"Warning: {warning}", file=sys.stderr)
    print(f"Merged {len(records)} records from {len(args.folders)} folders: {gradebook}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run a cnnlab subcommand; return its exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = {"make-exercises": "generate exercises/ from solutions/ (--check: only compare)",
                "grade": "grade a folder of submitted notebooks",
                "merge-grades": "join the outputs of sharded grading runs into one gradebook"}
    if not argv or argv[0] not in commands:
        print("usage: cnnlab COMMAND [options]\n\ncommands:", file=sys.stderr)
        for name, what in commands.items():
            print(f"  {name:16} {what}", file=sys.stderr)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    try:
        for module in GRADE_EXTRA:  # before any work, so nothing fails half-way through a batch
            importlib.import_module(module)
        if argv[0] == "make-exercises":
            from cnnlab.grading.generate import main as make_exercises

            return make_exercises(argv[1:])
        if argv[0] == "merge-grades":
            return merge_command(argv[1:])
        return grade_command(argv[1:])
    except ModuleNotFoundError as error:
        if error.name not in GRADE_EXTRA:
            raise
        print(f"cnnlab {argv[0]} needs {error.name}, which comes with the grading extra: "
              "pip install 'cnnlab[grade]' (./course.sh test installs it in .venv)", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
