"""Grade a class across machines: ``--shard K/N`` picks a deterministic part, ``merge`` joins them.

A submission belongs to shard ``1 + (h mod N)``, ``h`` the SHA-256 of ``student/exercise``:
the same on every machine and in every run, and stable when other submissions come and go.
Each shard writes ``<student>/<exercise>.json`` records and ``gradebook-shard-K-of-N.csv``;
:func:`merge` reads the records of any number of output folders and writes one gradebook.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


def parse_shard(text: str) -> tuple[int, int]:
    """Return (K, N) from ``"K/N"``, or raise ValueError saying what a shard looks like.

    >>> parse_shard("2/8")
    (2, 8)
    """
    match = SHARD.match(text or "")
    if not match:
        raise ValueError(f"--shard {text!r}: expected K/N with 1 <= K <= N, e.g. --shard 3/10")
    k, n = int(match.group(1)), int(match.group(2))
    if not 1 <= k <= n:
        raise ValueError(f"--shard {text!r}: K/N needs 1 <= K <= N (got K={k}, N={n})")
    return k, n


def shard_of(student: str, exercise: str, n: int) -> int:
    """Return the shard (1..n) a submission belongs to.

    >>> shard_of("kim", "01_perceptron_and_mlp", 1)
    1
    """
    digest = hashlib.sha256(f"{student}/{exercise}".encode("utf-8")).digest()
    return 1 + int.from_bytes(digest[:8], "big") % n


def select(subs: list, k: int, n: int) -> list:
    """Return the submissions of shard ``k`` of ``n``, in their order."""
    return [s for s in subs if shard_of(s.student, s.exercise, n) == k]


def resumable(subs: list, out: Path, solutions: Path) -> dict:
    """Return {(student, exercise): record} for the submissions ``out`` already holds a record of,
    graded from the same file against the same solution (``--resume`` keeps those)."""
    import hashlib as _hashlib
    import json

    from cnnlab.grading.report import record_path

    kept = {}
    for sub in subs:
        path = record_path(out, sub.student, sub.exercise)
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        solution = Path(solutions) / f"{sub.exercise}.ipynb"
        same_file = record.get("sha256") == _hashlib.sha256(sub.path.read_bytes()).hexdigest()
        same_solution = record.get("solution_sha256") == _hashlib.sha256(solution.read_bytes()).hexdigest()
        if same_file and same_solution and record.get("student") == sub.student:
            kept[(sub.student, sub.exercise)] = record
    return kept


def merge(folders: list[Path], out: Path) -> tuple[Path, list[dict], list[str]]:
    """Join the records of shard output ``folders`` into ``out``; return the gradebook's path,
    the records and a warning per submission found twice (the latest graded one is kept)."""
    from cnnlab.grading.report import load_records, write_all

    chosen: dict[tuple[str, str], dict] = {}
    warnings = []
    for folder in folders:
        if not Path(folder).is_dir():
            raise FileNotFoundError(f"{folder} is not a folder of grading output (cnnlab grade --out)")
        for record in load_records(folder):
            key = (record["student"], record["exercise"])
            if key in chosen and chosen[key].get("sha256") != record.get("sha256"):
                warnings.append(f"{key[0]}/{key[1]} was graded twice from different files; "
                                "the latest grading is kept")
            if key not in chosen or record.get("graded_at", "") >= chosen[key].get("graded_at", ""):
                chosen[key] = record
    records = [chosen[key] for key in sorted(chosen)]
    if not records:
        raise FileNotFoundError(f"no grading records (<student>/<exercise>.json) in {', '.join(map(str, folders))}")
    return write_all(records, out), records, warnings
