"""The kernel's isolation, tried directly with hostile processes (no Jupyter, no Keras: fast)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from cnnlab.grading.isolation import prepare_workdir, probe, wrap

ROOT = Path(__file__).resolve().parents[1]
MARKER = "isolation-test-4242"

HOSTILE = r'''
import json, os, socket, sys, time
results = {"pid": os.getpid(), "uid": os.getuid()}
def attempt(name, action):
    try:
        results[name] = repr(action())
    except Exception as error:
        results[name] = type(error).__name__
attempt("read_solution", lambda: open(sys.argv[1]).read(100))
attempt("list_repo", lambda: sorted(os.listdir(os.path.dirname(sys.argv[1]) + "/..")))
attempt("list_above_work", lambda: os.listdir(os.path.dirname(os.getcwd())))
attempt("list_tmp", lambda: os.listdir("/tmp"))
attempt("write_outside", lambda: os.write(os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT), b"x"))
attempt("write_tmp", lambda: open("/tmp/escaped", "w").write("x"))
attempt("write_work", lambda: open("inside.txt", "w").write("ok"))
attempt("kill_grader", lambda: os.kill(int(sys.argv[3]), 9))
attempt("connect", lambda: socket.create_connection(("127.0.0.1", 22), timeout=5))
attempt("dns", lambda: socket.getaddrinfo("pypi.org", 443))
results["processes"] = len([p for p in os.listdir("/proc") if p.isdigit()])
if os.fork() == 0:  # a grandchild in its own session that would outlive us
    os.setsid()
    if os.fork() == 0:
        os.execv("/bin/sh", ["/bin/sh", "-c", "while :; do sleep 0.2; done", sys.argv[4]])
    os._exit(0)
os.wait()
print(json.dumps(results))
'''


@pytest.fixture(scope="module")
def isolation():
    found = probe()
    if not found.active:
        (pytest.fail if os.environ.get("CI") else pytest.skip)(found.summary)
    return found


def _sandbox(tmp_path: Path) -> tuple[Path, Path]:
    work, root = tmp_path / "work", tmp_path / "root"
    work.mkdir()
    root.mkdir()
    prepare_workdir(work)
    return work, root


def _left_behind(marker: str) -> list[psutil.Process]:
    found = [p for p in psutil.process_iter(["cmdline"]) if marker in " ".join(p.info["cmdline"] or [])]
    _, alive = psutil.wait_procs(found, timeout=10)  # killed processes take a moment to be reaped
    for process in alive:
        process.kill()
    return alive


def test_a_hostile_process_sees_only_its_working_copy_and_leaves_nothing(isolation, tmp_path):
    work, root = _sandbox(tmp_path)
    outside = tmp_path / "outside.txt"
    solution = ROOT / "solutions" / "01_perceptron_and_mlp.ipynb"
    command = wrap([sys.executable, "-c", HOSTILE, str(solution), str(outside), str(os.getpid()), MARKER],
                   work, root)
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=work)
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout.strip().splitlines()[-1])
    assert results["read_solution"] == "FileNotFoundError"
    assert results["list_repo"] in ("FileNotFoundError", repr([".venv", "cnnlab"]), repr(["cnnlab"]))
    assert results["list_above_work"] == results["list_tmp"] == "PermissionError"  # no scratch names
    assert results["write_outside"] in ("FileNotFoundError", "PermissionError", "OSError")
    assert results["write_tmp"] in ("PermissionError", "OSError")
    assert results["write_work"] == "2"
    assert results["kill_grader"] == "ProcessLookupError"
    assert results["connect"] in ("OSError", "ConnectionRefusedError") and results["dns"] == "gaierror"
    assert results["processes"] <= 3  # PID 1 and itself: nothing of the grader
    if os.geteuid() == 0:
        assert results["uid"] == 65534
    assert (work / "inside.txt").read_text() == "ok"
    assert not outside.exists()
    assert _left_behind(MARKER) == []  # the setsid'ed grandchild died with the namespace


def test_killing_the_outer_process_kills_everything_inside(isolation, tmp_path):
    work, root = _sandbox(tmp_path)
    marker = MARKER + "-outer"
    script = (f"setsid sh -c 'while :; do sleep 0.2; done' {marker} & "
              f"touch started; while :; do sleep 0.2; done")
    outer = subprocess.Popen(wrap(["/bin/sh", "-c", script, marker], work, root), cwd=work)
    try:
        while not (work / "started").exists():  # the event: the inner shell is running
            assert outer.poll() is None, "the isolated shell ended before it started"
            time.sleep(0.05)  # polling an event, not timing a verdict
        inside = [p for p in psutil.process_iter(["cmdline"]) if marker in " ".join(p.info["cmdline"] or [])]
        assert len(inside) >= 2
    finally:
        outer.kill()
        outer.wait()
    assert _left_behind(marker) == []


def test_the_probe_says_what_is_in_force(isolation):
    assert isolation.summary.startswith("isolated: ")
    assert "PID, mount, network" in isolation.summary
