"""Write the Colab install cell as the first code cell of every lesson, solution and exercise.

Usage: python scripts/colab_cells.py [--check] [NOTEBOOK ...]
Without notebooks it rewrites every notebook in notebooks/, solutions/ and exercises/. The cell
installs cnnlab from the repository named in pyproject.toml's [project.urls], so the URL is
defined once. An existing install cell (found by its first line, or anywhere in the notebook
by its `find_spec("cnnlab")` test) is moved to the front and its source rewritten, keeping its
id, outputs and metadata; a notebook without one gets a new cell after its leading markdown
(marked as a locked nbgrader cell in solutions and exercises, whose code cells all carry
nbgrader metadata).
--check changes nothing and exits 1 naming the notebooks that need rewriting.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = ("notebooks", "solutions", "exercises")
MARKER = "# extra code: on Colab, install cnnlab the first time"


def repository_url(pyproject: Path = ROOT / "pyproject.toml") -> str:
    """Return the repository URL from pyproject.toml's ``[project.urls] Repository``."""
    urls = tomllib.loads(pyproject.read_text())["project"].get("urls", {})
    if "Repository" not in urls:
        raise SystemExit(f"{pyproject}: add the repository under [project.urls] as Repository = \"https://...\"")
    return urls["Repository"].rstrip("/")


def cell_source(url: str | None = None) -> str:
    """Return the source of the install cell for ``url`` (default: the project's repository)."""
    url = url or repository_url()
    return (f"{MARKER} (elsewhere it is installed already)\n"
            "import importlib.util\n"
            "\n"
            'if importlib.util.find_spec("cnnlab") is None:\n'
            f'    %pip install -q "cnnlab @ git+{url}"')


def is_install_cell(cell) -> bool:
    """Return True if ``cell`` is a Colab install cell (current or older wording)."""
    return cell.cell_type == "code" and (cell.source.startswith(MARKER) or 'find_spec("cnnlab")' in cell.source)


def rewrite(nb, source: str) -> bool:
    """Make ``nb``'s first code cell the install cell with ``source``; return True if ``nb`` changed."""
    index = next((i for i, c in enumerate(nb.cells) if is_install_cell(c)), None)
    first_code = next((i for i, c in enumerate(nb.cells) if c.cell_type == "code"), len(nb.cells))
    if index is not None and index == first_code and nb.cells[index].source == source:
        return False
    if index is None:
        cell = nbformat.v4.new_code_cell(source)
        if nb.nbformat_minor < 5:
            cell.pop("id", None)
        else:  # the same id in a solution and its exercise, as `cnnlab make-exercises` copies it
            cell.id = "colab-install"
        if any("nbgrader" in c.metadata for c in nb.cells):
            from cnnlab.grading.notebook_source import mark_locked

            mark_locked(cell, "colab_install")
    else:
        cell = nb.cells.pop(index)
        cell.source = source
        first_code = next((i for i, c in enumerate(nb.cells) if c.cell_type == "code"), len(nb.cells))
    nb.cells.insert(first_code, cell)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a notebook needs rewriting")
    parser.add_argument("notebooks", nargs="*", type=Path)
    args = parser.parse_args(argv)
    paths = args.notebooks or [p for folder in FOLDERS for p in sorted((ROOT / folder).glob("*.ipynb"))]
    source = cell_source()
    stale = []
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        if rewrite(nb, source):
            stale.append(path)
            if not args.check:
                nbformat.write(nb, path)
    verb = "need the Colab cell rewritten" if args.check else "rewritten"
    print(f"{len(stale)} of {len(paths)} notebooks {verb}" + "".join(f"\n  {p}" for p in stale))
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
