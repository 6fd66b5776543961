"""Execute notebooks in place so they are stored with the outputs of a full run.

Usage: python scripts/run_notebooks.py [--profile full|smoke] [NOTEBOOK ...]
Without notebooks it runs every lesson in notebooks/. A notebook is replaced only when its
run succeeds; a failed run leaves the stored copy untouched and names the failing cell.
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import papermill

from cnnlab.runtime import pin_kernel

ROOT = Path(__file__).resolve().parent.parent


def run(path: Path, profile: str, kernel: str) -> float:
    """Execute ``path`` in ``profile`` and store it in place; return the seconds it took."""
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / path.name
        papermill.execute_notebook(str(path), str(out), parameters={"PROFILE": profile}, kernel_name=kernel,
                                   cwd=str(path.parent), progress_bar=False)
        nb = nbformat.read(out, as_version=4)
    # Keep the stored notebook as authored: drop papermill's injected cell and run metadata,
    # and restore the kernelspec learners' front ends know.
    nb.cells = [c for c in nb.cells if "injected-parameters" not in c.metadata.get("tags", [])]
    for cell in nb.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
    nb.metadata.pop("papermill", None)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nbformat.write(nb, path)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="full", choices=["full", "smoke"])
    parser.add_argument("notebooks", nargs="*", type=Path)
    args = parser.parse_args()
    os.environ.pop("CNNLAB_PROFILE", None)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    # Full runs stored here are the course's results: their leaderboard rows go to the shipped table.
    os.environ["CNNLAB_LEADERBOARD"] = str(ROOT / "cnnlab" / "_data" / "leaderboard.csv")
    kernel = pin_kernel("cnnlab-run")
    paths = args.notebooks or sorted((ROOT / "notebooks").glob("*.ipynb"))
    failed = 0
    for path in paths:
        try:
            seconds = run(path.resolve(), args.profile, kernel)
        except papermill.PapermillExecutionError as err:
            failed += 1
            print(f"FAILED {path}: cell {err.cell_index}: {err.ename}: {err.evalue}", file=sys.stderr)
        else:
            print(f"ok     {path} ({args.profile}, {seconds:.0f} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
