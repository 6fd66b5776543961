"""Create .venv-floor: this environment with the lesson dependencies held at their floors.

Usage: .venv/bin/python scripts/floor_env.py [FLOOR_VENV]   (default: .venv-floor)

The floors in pyproject.toml are the versions Colab ships, so CI runs the widget tests and
lesson 00 on them (`./course.sh test`). Only the pinned packages are installed into the floor
venv; everything else (pytest, papermill, JupyterLab's server parts) comes from the venv that
runs this script, through a .pth file placed after the floor venv's own site-packages.
The floor venv is rebuilt only when the pins or that venv's location change.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STAMP = ".cnnlab-floor"
PTH_VERSION = 2  # bump when the .pth line changes, to rebuild


def floor_pins(pyproject: Path = ROOT / "pyproject.toml") -> dict[str, str]:
    """Return ``{name: floor}`` for every runtime dependency of cnnlab (each must have a ``>=`` floor)."""
    pins = {}
    for requirement in tomllib.loads(pyproject.read_text())["project"]["dependencies"]:
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)\s*>=\s*([0-9][0-9A-Za-z.]*)", requirement.strip())
        if not match:
            raise ValueError(f"pyproject.toml: dependency {requirement!r} has no plain '>=' floor; "
                             "write it as 'name>=X.Y.Z' so CI can test that floor")
        pins[match.group(1).lower()] = match.group(2)
    return pins


def build(floor: Path) -> dict[str, str]:
    """Make ``floor`` hold the pins (reusing it when up to date); return the installed versions."""
    pins = floor_pins()
    main_site = sysconfig.get_paths()["purelib"]
    want = hashlib.sha256(json.dumps([pins, main_site, PTH_VERSION]).encode()).hexdigest()[:16]
    python = floor / "bin" / "python"
    stamp = floor / STAMP
    if not (python.exists() and stamp.exists() and stamp.read_text() == want):
        print(f"== building {floor} with " + ", ".join(f"{n} {v}" for n, v in pins.items()), flush=True)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(floor)], check=True)
        site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                              check=True, capture_output=True, text=True).stdout.strip()
        # addsitedir (not a bare path) so the editable cnnlab install's own .pth is honoured too;
        # not inside pip's isolated builds (PIP_BUILD_TRACKER), which must see their own setuptools.
        Path(site, "zz_cnnlab_main_env.pth").write_text(
            f"import os, site; 'PIP_BUILD_TRACKER' in os.environ or site.addsitedir({main_site!r})\n")
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                        *[f"{n}=={v}" for n, v in pins.items()]], check=True)
        stamp.write_text(want)
    got = json.loads(subprocess.run(
        [str(python), "-c", "import importlib.metadata as m, json, sys; "
         "print(json.dumps({n: m.version(n) for n in sys.argv[1:]}))", *pins],
        check=True, capture_output=True, text=True).stdout)
    wrong = {n: (v, got[n]) for n, v in pins.items() if _release(got[n]) != _release(v)}
    if wrong:
        raise SystemExit(f"{floor}: expected the floors, found " +
                         ", ".join(f"{n} {have} (floor {v})" for n, (v, have) in wrong.items()) +
                         f". Delete {floor} and run again.")
    return got


def _release(version: str) -> tuple[int, ...]:
    """Return the numeric release of ``version``, without trailing zeros ('3.10.0' and '3.10' agree)."""
    parts = [int(p) for p in re.match(r"[0-9]+(?:\.[0-9]+)*", version).group(0).split(".")]
    while parts and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def main() -> int:
    floor = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / ".venv-floor").resolve()
    versions = build(floor)
    print("== floor environment: " + ", ".join(f"{n} {v}" for n, v in versions.items()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
