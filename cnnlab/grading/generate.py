"""Generate ``exercises/`` from ``solutions/``: ``python -m cnnlab.grading.generate [--check]``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

from cnnlab.grading.notebook_source import exercise_from_solution

ROOT = Path(__file__).resolve().parents[2]


def exercise_text(solution_path: Path) -> str:
    """Return the exact text of the exercise notebook generated from one solution."""
    solution = nbformat.read(solution_path, as_version=4)
    exercise = exercise_from_solution(solution, solution_path.stem)
    return nbformat.writes(exercise) + "\n"


def make_exercises(solutions: Path = ROOT / "solutions", exercises: Path = ROOT / "exercises",
                   *, check: bool = False) -> list[Path]:
    """Write (or, with ``check``, only compare) every exercise; return the files that were stale."""
    stale = []
    for solution_path in sorted(Path(solutions).glob("*.ipynb")):
        target = Path(exercises) / solution_path.name
        text = exercise_text(solution_path)
        if target.exists() and target.read_text(encoding="utf-8") == text:
            continue
        stale.append(target)
        if not check:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
    return stale


def main(argv: list[str] | None = None) -> int:
    """Run ``make-exercises``; return 1 when ``--check`` finds stale exercises, else 0."""
    parser = argparse.ArgumentParser(prog="cnnlab make-exercises",
                                     description="Generate exercises/ from solutions/.")
    parser.add_argument("--check", action="store_true",
                        help="only report exercises that are out of date (exit status 1)")
    parser.add_argument("--solutions", type=Path, default=Path("solutions"),
                        help="folder of solution notebooks (default: ./solutions)")
    parser.add_argument("--exercises", type=Path, default=Path("exercises"),
                        help="folder to write the exercises to (default: ./exercises)")
    args = parser.parse_args(argv)
    stale = make_exercises(args.solutions, args.exercises, check=args.check)
    for path in stale:
        verb = "out of date" if args.check else "written"
        print(f"{path}: {verb}")
    if args.check and stale:
        print("Run `cnnlab make-exercises` to regenerate them, and commit the result.", file=sys.stderr)
        return 1
    if not stale:
        print("exercises/ is up to date.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
