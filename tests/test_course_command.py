"""The README's `./course.sh lab` serves a real JupyterLab at lesson 00, on copies of the lessons.

The servers are waited for by reading their log until they print the URL to open (or exit),
never by sleeping; the only time limit is a generous guard against a hang.
"""

import json
import os
import queue
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest

from conftest import ROOT

COURSE = str(ROOT / "course.sh")
LESSON0 = "notebooks/00_setup_and_tour.ipynb"
HANG_GUARD_S = 300
TOKEN = "cnnlab-test-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lab:
    """A `./course.sh lab` process whose output is read line by line as it comes."""

    def __init__(self, tmp_path, *args):
        self.port = free_port()
        self.work = tmp_path / "work"
        home = tmp_path / "home"
        home.mkdir()
        env = {**os.environ, "HOME": str(home), "CNNLAB_WORK": str(self.work),
               "JUPYTER_RUNTIME_DIR": str(home / "runtime"), "JUPYTER_CONFIG_DIR": str(home / "cfg"),
               "JUPYTER_DATA_DIR": str(home / "data")}
        command = [COURSE, "lab", "--no-browser", "--ip=127.0.0.1", f"--port={self.port}",
                   f"--IdentityProvider.token={TOKEN}", *args]
        self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True, start_new_session=True)
        self.lines, self.log = queue.Queue(), []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)  # the process closed its output: it ended

    def wait_for(self, text: str) -> str:
        """Return the first log line containing ``text``; fail with the log if the server ends first."""
        while True:
            try:
                line = self.lines.get(timeout=HANG_GUARD_S)
            except queue.Empty:
                pytest.fail(f"no output for {HANG_GUARD_S} s:\n" + "".join(self.log[-40:]))
            if line is None:
                self.process.wait()
                pytest.fail(f"course.sh lab ended (exit {self.process.returncode}) before printing "
                            f"{text!r}:\n" + "".join(self.log[-40:]))
            self.log.append(line)
            if text in line:
                return line

    def wait_until_listening(self):
        """Return once the port accepts connections (JupyterLab prints its URL just before it binds)."""
        deadline = time.monotonic() + HANG_GUARD_S
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=10).close()
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("JupyterLab never listened:\n" + "".join(self.log[-40:]))
                time.sleep(0.2)

    def get(self, path: str, method: str = "GET", body=None):
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", method=method,
                                         headers={"Authorization": f"token {TOKEN}"},
                                         data=None if body is None else json.dumps(body).encode())
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.headers, response.read()

    def stop(self):
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args):
        return None


def check_serves_lesson_00_on_copies(lab):
    url = lab.wait_for(f"http://127.0.0.1:{lab.port}/lab/tree/{LESSON0}?token=")
    assert "/lab/tree/notebooks/00_setup_and_tour.ipynb" in url
    assert any("open lesson 00 at the URL printed below" in line for line in lab.log)
    lab.wait_until_listening()
    # The start page is lesson 00 (what a browser opening the server's root is sent to).
    opener = urllib.request.build_opener(NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as redirect:
        opener.open(urllib.request.Request(f"http://127.0.0.1:{lab.port}/",
                                           headers={"Authorization": f"token {TOKEN}"}), timeout=60)
    assert redirect.value.code in (301, 302) and redirect.value.headers["Location"].rstrip("?").endswith(f"/lab/tree/{LESSON0}")
    # The server's root is the workspace: copies of every lesson and exercise.
    _, _, body = lab.get("/api/contents/notebooks")
    served = sorted(item["name"] for item in json.loads(body)["content"] if item["name"].endswith(".ipynb"))
    assert served == sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
    _, _, body = lab.get("/api/contents/exercises")
    assert len(json.loads(body)["content"]) == len(list((ROOT / "exercises").glob("*.ipynb")))
    status, _, page = lab.get("/lab")
    assert status == 200 and b"JupyterLab" in page
    # Saving lesson 00 in JupyterLab writes the copy; the stored lesson keeps its outputs.
    stored = (ROOT / LESSON0).read_bytes()
    _, _, body = lab.get(f"/api/contents/{LESSON0}")
    notebook = json.loads(body)["content"]
    notebook["cells"][0]["source"] = "# edited in JupyterLab"
    lab.get(f"/api/contents/{LESSON0}", "PUT", {"type": "notebook", "format": "json", "content": notebook})
    assert (ROOT / LESSON0).read_bytes() == stored
    assert "# edited in JupyterLab" in (lab.work / LESSON0).read_text()


def test_lab_as_root_serves_lesson_00_on_copies_of_the_lessons(tmp_path):
    assert os.geteuid() == 0, "CI runs the suite as root, the case JupyterLab refuses without --allow-root"
    lab = Lab(tmp_path)  # no --allow-root: course.sh adds it for root
    try:
        check_serves_lesson_00_on_copies(lab)
    finally:
        lab.stop()


def test_a_busy_port_is_reported_not_moved(tmp_path):
    with socket.socket() as busy:
        busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run([COURSE, "lab", "--no-browser", f"--port={port}"], cwd=ROOT, capture_output=True,
                              text=True, timeout=HANG_GUARD_S,
                              env={**os.environ, "CNNLAB_WORK": str(tmp_path / "work")})
    assert done.returncode == 1
    assert f"port {port} is already in use" in done.stderr and "--port 8899" in done.stderr


@pytest.mark.parametrize("args, named", [([], "no command given"), (["lba"], "unknown command 'lba'")])
def test_no_or_a_bad_command_is_named_and_the_commands_listed(args, named):
    done = subprocess.run([COURSE, *args], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert named in done.stderr
    assert "  lab " in done.stderr and "  test " in done.stderr and "usage: ./course.sh COMMAND" in done.stderr


def test_help_lists_the_commands():
    done = subprocess.run([COURSE, "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "  lab " in done.stdout and "  test " in done.stdout
