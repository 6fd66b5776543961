"""The course leaderboard: one row per architecture on Fashion-MNIST, shipped and local.

Every architecture lesson ends with::

    table = cnnlab.leaderboard.add_row("First CNN", model=model, test_accuracy=acc,
                                       train_seconds=seconds, cfg=cfg)

which counts the model's parameters and MACs with :mod:`cnnlab.params`, records the hardware,
backend, profile and date, and returns the whole table with that row in it. Two tables exist:

* the **course table**, ``cnnlab/_data/leaderboard.csv``, shipped inside the package so a lesson
  opened alone (in Colab, from a wheel) still shows every row the course measured;
* the learner's **local table**, ``~/.cnnlab/leaderboard.csv`` (or ``$CNNLAB_HOME/leaderboard.csv``),
  where a learner's own full runs go. :func:`load` shows the course rows with the local rows
  added, a local row replacing the course row of the same name (column ``source``).

Only a full-profile run writes; a smoke run (CI) adds its row to the returned table in memory
and leaves every file alone. When ``$CNNLAB_LEADERBOARD`` names a file, that file is the one
table read and written (no local rows): ``scripts/run_notebooks.py`` points it at the shipped
file, so regenerating the lessons' stored outputs updates the committed table.
"""

from __future__ import annotations

import datetime
import math
import os
import tempfile
from pathlib import Path

import pandas as pd

__all__ = ["COLUMNS", "add_row", "course_path", "load", "local_path", "make_row"]

COLUMNS = ["name", "test_accuracy", "params", "macs", "train_seconds", "hardware", "backend", "profile", "date"]
SHIPPED = Path(__file__).resolve().parent / "_data" / "leaderboard.csv"
TABLE_ENV = "CNNLAB_LEADERBOARD"
HOME_ENV = "CNNLAB_HOME"


def course_path() -> Path:
    """Return the course table's file: ``$CNNLAB_LEADERBOARD`` if set, else the shipped CSV."""
    named = os.environ.get(TABLE_ENV, "").strip()
    return Path(named).expanduser() if named else SHIPPED


def local_path() -> Path:
    """Return the learner's table: ``$CNNLAB_HOME/leaderboard.csv``, else ``~/.cnnlab/leaderboard.csv``."""
    home = os.environ.get(HOME_ENV, "").strip()
    return (Path(home).expanduser() if home else Path.home() / ".cnnlab") / "leaderboard.csv"


def make_row(name: str, *, model, test_accuracy: float, train_seconds: float, cfg) -> dict:
    """Return one leaderboard row: the model's exact parameters and MACs, where and how it ran."""
    from cnnlab import params, runtime

    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"name must be a non-empty string such as 'First CNN', got {name!r}.")
    if not isinstance(cfg, runtime.Profile):
        raise TypeError(f"cfg must be the profile cnnlab.setup(PROFILE) returned, got {type(cfg).__name__}.")
    accuracy = _number("test_accuracy", test_accuracy)
    if not 0.0 <= accuracy <= 1.0:
        raise ValueError(f"test_accuracy must be a fraction in [0, 1], got {test_accuracy!r}; "
                         "pass model.evaluate(...)'s accuracy, not a percentage.")
    seconds = _number("train_seconds", train_seconds)
    if seconds < 0:
        raise ValueError(f"train_seconds must be >= 0, got {train_seconds!r}: measure it with "
                         "time.perf_counter() before and after model.fit(...).")
    _check_input_shape(model)
    counts = params.summary(model).totals
    return {
        "name": name.strip(),
        "test_accuracy": round(accuracy, 4),
        "params": int(counts["params"]),
        # MACs of a model with a layer cnnlab cannot cost would be too low: leave them unknown.
        "macs": pd.NA if counts["unknown_macs"] else int(counts["macs"]),
        "train_seconds": round(seconds, 1),
        "hardware": f"{runtime.accelerator()}, {os.cpu_count()} CPU cores",
        "backend": runtime.versions()["backend"],
        "profile": cfg.name,
        "date": datetime.datetime.now(datetime.timezone.utc).date().isoformat(),
    }


def add_row(name: str, *, model, test_accuracy: float, train_seconds: float, cfg, path=None) -> pd.DataFrame:
    """Return the leaderboard with this model's row; a full-profile run also saves the row.

    The row goes to ``path`` if given, else to ``$CNNLAB_LEADERBOARD`` if set, else to the
    learner's local table (see the module docstring). A rerun under the same name replaces its
    row. A smoke run writes nothing.
    """
    row = make_row(name, model=model, test_accuracy=test_accuracy, train_seconds=train_seconds, cfg=cfg)
    single = path is not None or os.environ.get(TABLE_ENV, "").strip()
    target = Path(path).expanduser() if path is not None else (course_path() if single else local_path())
    if not cfg.smoke:
        _write(target, _with_row(_read(target), row))
    table = load(target if single else None)
    if cfg.smoke:
        source = "course" if single else "yours"
        table = _sorted(_with_row(table, {**row, "source": source}))
    return table


def load(path=None) -> pd.DataFrame:
    """Return the leaderboard, best test accuracy first, with a ``source`` column ("course" or "yours").

    Without ``path`` (and without ``$CNNLAB_LEADERBOARD``): the shipped course rows, with the
    learner's local rows added or replacing course rows of the same name. With ``path`` or
    that variable: that one table.
    """
    if path is not None or os.environ.get(TABLE_ENV, "").strip():
        single = Path(path).expanduser() if path is not None else course_path()
        return _sorted(_read(single).assign(source="course"))
    course = _read(SHIPPED).assign(source="course")
    mine = _read(local_path()).assign(source="yours")
    kept = course[~course["name"].isin(mine["name"])]
    return _sorted(pd.concat([frame for frame in (kept, mine) if len(frame)] or [course], ignore_index=True))


def _number(what: str, value) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{what} must be a number, got {value!r}.") from None
    if not math.isfinite(number):
        raise ValueError(f"{what} must be a finite number, got {value!r}.")
    return number


def _check_input_shape(model) -> None:
    import keras

    if not isinstance(model, keras.Model):
        raise TypeError(f"model must be a keras.Model, got {type(model).__name__}.")
    inputs = getattr(model, "inputs", None) if model.built else None
    shapes = [tuple(t.shape[1:]) for t in inputs] if inputs else []
    if not shapes or any(d is None for shape in shapes for d in shape):
        raise ValueError(
            f"The input shape of model {model.name!r} is unknown ({shapes or 'not built'}), so its MACs "
            "cannot be counted. Start the model with keras.Input(shape=(28, 28, 1)) (every size fixed), "
            "or call it once on a batch of images before adding its row.")


def _read(path: Path) -> pd.DataFrame:
    if not path.exists():
        return _empty()
    try:
        frame = pd.read_csv(path, dtype={"name": str, "hardware": str, "backend": str, "profile": str,
                                         "date": str})
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise ValueError(f"The leaderboard file {path} is not a readable CSV ({err}); "
                         "delete it (or restore it from git) and run the lesson again.") from None
    missing = [column for column in COLUMNS if column not in frame.columns]
    if missing:
        raise ValueError(f"The leaderboard file {path} lacks the columns {missing}; expected {COLUMNS}. "
                         "Delete it (or restore it from git) and run the lesson again.")
    frame = frame[COLUMNS].copy()
    for column in ("params", "macs"):
        frame[column] = frame[column].astype("Int64")
    return frame


def _empty() -> pd.DataFrame:
    frame = pd.DataFrame({column: pd.Series(dtype=object) for column in COLUMNS})
    for column in ("test_accuracy", "train_seconds"):
        frame[column] = frame[column].astype(float)
    for column in ("params", "macs"):
        frame[column] = frame[column].astype("Int64")
    return frame


def _with_row(table: pd.DataFrame, row: dict) -> pd.DataFrame:
    kept = table[table["name"] != row["name"]]
    added = pd.DataFrame([row]).astype({"params": "Int64", "macs": "Int64"})
    return pd.concat([kept, added] if len(kept) else [added], ignore_index=True)


def _sorted(table: pd.DataFrame) -> pd.DataFrame:
    return table.sort_values(["test_accuracy", "params"], ascending=[False, True],
                             ignore_index=True)


def _write(path: Path, table: pd.DataFrame) -> None:
    """Replace ``path`` with ``table`` atomically: a reader sees the old file or the new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", newline="") as stream:
            table[COLUMNS].sort_values("name", ignore_index=True).to_csv(stream, index=False)
        os.chmod(temporary, 0o644)  # mkstemp makes it private; the table is an ordinary file
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
