"""Grade one submission in a fresh kernel: ``python -m cnnlab.grading.worker JOB.json``.

The batch grader starts one worker process per submission and kills it (kernel included) when
the notebook's time is up. The worker appends one JSON line per event to the job's progress
file as it goes (start, rejected or plan, one line per test, done), so whatever was graded
before a kill survives it.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import sys
import threading
import time
from pathlib import Path

# jsonschema (through nbformat) imports this optional IRI checker if it can, and building its
# grammar costs about 2 CPU seconds per process; notebooks never use that format. None in
# sys.modules makes the import fail fast, and jsonschema skips the checker.
sys.modules.setdefault("rfc3987_syntax", None)

import nbformat  # noqa: E402

from cnnlab.grading.assemble import Rejected, assemble, read_submission  # noqa: E402
from cnnlab.grading.kernel import FILE_SIZE_ENV, MEMORY_ENV  # noqa: E402
from cnnlab.grading.verdict import MIME, decode_output, judge_test  # noqa: E402

KERNEL_NAME = "cnnlab-grader"
MESSAGE_LIMIT = 1500
GIVEN_CELL_TIMEOUT = 180  # seconds for the solution's own cells: importing Keras can be slow
PROBE_TIMEOUT = 5
CHECKS_BUDGET = 32 << 20  # characters of recorded checks one test cell may hand back


def kernel_argv(job: dict) -> list[str]:
    """Return the kernel's command line: isolated when the job says so, dying with this worker."""
    import shutil

    from cnnlab.grading.isolation import wrap

    argv = [sys.executable, "-m", "cnnlab.grading.kernel", "-f", "{connection_file}"]
    if job.get("isolate"):
        argv = wrap(argv, Path(job["workdir"]), Path(job["scratch"]) / "root")
    setpriv = shutil.which("setpriv")
    if setpriv and sys.platform.startswith("linux"):  # the kernel dies with this worker
        argv = [setpriv, "--pdeathsig", "KILL", "--"] + argv
    return argv


def write_kernelspec(folder: Path, job: dict) -> Path:
    """Write a kernelspec that runs this Python (``sys.executable``) under the grader's limits."""
    spec_dir = folder / KERNEL_NAME
    spec_dir.mkdir(parents=True, exist_ok=True)
    spec = {"argv": kernel_argv(job), "display_name": "cnnlab grader", "language": "python",
            "interrupt_mode": "message"}
    (spec_dir / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
    return folder


def kernel_env(workdir: Path, job: dict) -> dict:
    """Return the kernel's environment: home, temp and caches inside the working copy."""
    import cnnlab

    # Only what a kernel needs: nothing of the grader's environment (paths, tokens) leaks in.
    env = {key: os.environ[key] for key in ("PATH", "LANG", "LC_ALL", "TZ") if key in os.environ}
    package_root = str(Path(cnnlab.__file__).resolve().parents[1])
    env.update({"TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONDONTWRITEBYTECODE": "1",
        "HOME": str(workdir), "TMPDIR": str(workdir / "tmp"), "IPYTHONDIR": str(workdir / ".ipython"),
        "MPLCONFIGDIR": str(workdir / ".mpl"), "KERAS_HOME": str(workdir / ".keras"),
        "MPLBACKEND": "agg", "CUDA_VISIBLE_DEVICES": "", "PYTHONHASHSEED": "0",
        "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
        "KERAS_BACKEND": job["backend"], "CNNLAB_PROFILE": job["profile"],
        MEMORY_ENV: str(job["memory_mb"]), FILE_SIZE_ENV: str(job["file_mb"]),
        "PYTHONPATH": os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p),
    })
    (workdir / "tmp").mkdir(exist_ok=True)
    return env


def _client_class():
    """Return a NotebookClient that drops output beyond a byte budget instead of storing it."""
    from nbclient import NotebookClient

    class CappedClient(NotebookClient):
        output_budget = 1 << 20
        output_dropped = False

        timed_out = False
        last_reply: dict | None = None

        async def _async_handle_timeout(self, timeout, cell=None):
            self.timed_out = True
            return await super()._async_handle_timeout(timeout, cell)

        async def _check_raise_for_error(self, cell, cell_index, exec_reply):
            self.last_reply = exec_reply["content"] if exec_reply else None
            return await super()._check_raise_for_error(cell, cell_index, exec_reply)

        def run(self, cell, index) -> tuple[str, str] | None:
            if cell.metadata.get("cnnlab_role", [""])[0] == "test":
                self.checks_budget = CHECKS_BUDGET
            return self._run(cell, index)

        def _run(self, cell, index) -> tuple[str, str] | None:
            """Execute one cell; return (ename, evalue) if it failed or ran out of time, else None.

            The verdict comes from the kernel's reply, not from the outputs: a cell whose time
            ran out, or whose error output was dropped, never counts as a success.
            """
            self.timed_out, self.last_reply = False, None
            self.execute_cell(cell, index)
            if self.timed_out:
                return "CellTimeout", "the cell ran past its time limit"
            reply = self.last_reply or {}
            if reply.get("status") == "ok":
                return None
            if reply.get("status") == "error":
                return reply.get("ename", "Error"), reply.get("evalue", "")
            return "NoReply", f"the kernel gave no usable reply ({reply.get('status')!r})"

        checks_budget = CHECKS_BUDGET

        def output(self, outs, msg, display_id, cell_index):
            data = msg["content"].get("data", {})
            if isinstance(data, dict) and MIME in data:  # the checks' plain data, budgeted apart
                self.checks_budget -= len(str(data[MIME]))
                if self.checks_budget < 0:
                    return None
                return super().output(outs, msg, display_id, cell_index)
            size = sum(len(v) for v in msg["content"].values() if isinstance(v, str))
            size += sum(len(str(v)) for v in data.values()) if isinstance(data, dict) else 0
            self.output_budget -= size
            if self.output_budget < 0 and msg["msg_type"] != "error":
                self.output_dropped = True
                return None
            return super().output(outs, msg, display_id, cell_index)

    return CappedClient


def _watch_memory(pid: int, limit_mb: int, stop: threading.Event, tripped: list) -> None:
    """Kill the kernel whose resident memory passes ``limit_mb`` (the address-space cap's backstop)."""
    import psutil

    try:
        process = psutil.Process(pid)
        while not stop.wait(0.25):
            family = [process] + process.children(recursive=True)
            rss = 0
            for member in family:
                try:
                    rss += member.memory_info().rss
                except psutil.Error:
                    pass
            if rss > limit_mb << 20:
                tripped.append(True)
                for member in reversed(family):
                    try:
                        member.kill()
                    except psutil.Error:
                        pass
                return
    except psutil.Error:
        return


def _responsive(client) -> bool:
    """Return True when the kernel answers a trivial cell within a few seconds (after an interrupt)."""
    probe = nbformat.v4.new_code_cell("pass")
    probe.metadata["cnnlab_role"] = ["probe", ""]
    saved, client.timeout_func = client.timeout_func, (lambda cell: PROBE_TIMEOUT)
    try:
        return client.run(probe, 0) is None
    finally:
        client.timeout_func = saved


def _explain(ename: str, evalue: str) -> str:
    """Return an error in plain words, naming the usual causes of the errors graders see."""
    if ename == "StdinNotImplementedError":
        return "the code calls input(), which a grader cannot answer; remove the call"
    if ename == "SandboxError":
        return f"refused: {evalue.split(': ', 1)[-1]}"
    if ename in ("CellTimeout", "KeyboardInterrupt"):
        return "it ran past the cell time limit (an endless loop?) and was interrupted"
    if ename == "MemoryError":
        return "the code ran out of memory (the grader caps each kernel's memory)"
    return f"{ename}: {evalue}"


def test_record(cell, error: tuple[str, str] | None, points: float, duration: float,
                trusted: dict) -> dict:
    """Return a test's record: the verdict on the cell's recorded checks against the trusted run.

    Only plain data comes from the submission's kernel; the comparison happens here. Its reply
    (ok or an error) only says why a test did not pass: not done, error, timeout.
    """
    record = {"points": 0.0, "max": points, "status": "failed", "message": "",
              "duration": round(duration, 3), "kernel_judged": 0}
    if trusted.get("problem"):
        record.update(status="error", message=f"the grader could not run this test on the solution: "
                                              f"{trusted['problem']}"[:MESSAGE_LIMIT])
        return record
    judged = judge_test(decode_output(cell.get("outputs", [])), trusted["blocks"], trusted["fixed"])
    record["kernel_judged"] = judged["kernel_judged"]
    failures = judged["failures"]
    if error is None and judged["complete"] and not failures:
        record.update(points=points, status="passed")
        return record
    if error is None:
        if not judged["complete"]:
            failures.append("FAIL  the test stopped before all its checks ran")
        status, message = "failed", "; ".join(failures)
    else:
        ename, evalue = error
        if ename == "NotDoneYet":
            status, message = "not done", "the answer still raises NotImplementedError (the stub)"
        elif ename == "AnswerError":
            status, message = "error", evalue
        elif ename in ("CellTimeout", "KeyboardInterrupt"):
            status, message = "timeout", _explain(ename, evalue)
        else:
            status, message = "error", _explain(ename, evalue)
        if failures:
            message += "; before that: " + "; ".join(failures)
    record.update(status=status, message=message[:MESSAGE_LIMIT])
    return record


def _plan(job: dict, solution, raw: bytes):
    """Return the assembled notebook for the job: a submission, or the solution (trusted runs)."""
    trusted = json.loads(Path(job["trusted"]).read_text(encoding="utf-8")) if job.get("trusted") else {}
    strip = {gid: t.get("strip", []) for gid, t in trusted.items()}
    plan = assemble(solution, read_submission(raw), job["exercise"], strip=strip)
    return plan, trusted


def _run_reseeded(client, cell, index) -> list[dict]:
    """Run a test cell of the solution again after reseeding every random generator; return the
    checks it records (what changes between the two runs depends on random state)."""
    # A new seed per test: the first run of a test may start from the previous test's reseed.
    guard = nbformat.v4.new_code_cell("_cnnlab_sandbox.restore(globals())\n"
                                      f"_cnnlab_sandbox.perturb({1_000_003 * (index + 1) + 12_345})")
    guard.metadata["cnnlab_role"] = ["guard", ""]
    again = copy.deepcopy(cell)
    if client.run(guard, index) is not None:
        return []
    client.run(again, index)
    return decode_output(again.get("outputs", []))


def run_job(job: dict) -> None:
    """Grade the submission the job describes, appending events to its progress file."""
    progress = open(job["progress"], "a", encoding="utf-8")

    def emit(event: str, **fields):
        progress.write(json.dumps({"event": event, **fields}) + "\n")
        progress.flush()

    raw = Path(job["submission"]).read_bytes()
    emit("start", sha256=hashlib.sha256(raw).hexdigest())
    solution = nbformat.read(job["solution"], as_version=4)
    try:
        plan, trusted = _plan(job, solution, raw)
    except Rejected as reason:
        emit("rejected", reason=str(reason))
        return
    emit("plan", tests=plan.tests, notes=plan.notes, flags=plan.flags)

    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from nbclient.exceptions import DeadKernelError

    from cnnlab.grading.isolation import prepare_workdir

    workdir = Path(job["workdir"])
    ipc = workdir / ".ipc"
    ipc.mkdir(exist_ok=True)
    (workdir / "tmp").mkdir(exist_ok=True)
    if job.get("isolate"):
        (Path(job["scratch"]) / "root").mkdir(exist_ok=True)
        prepare_workdir(workdir)
    specs = KernelSpecManager(kernel_dirs=[str(write_kernelspec(Path(job["scratch"]) / "kernels", job))])
    # Isolated: Unix sockets in the working copy, which reach a kernel that has no network.
    channel = {"transport": "ipc", "ip": str(ipc / "k")} if job.get("isolate") else {}
    km = AsyncKernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=specs,
                            connection_file=str(ipc / "kernel.json"), **channel)
    limit = job["cell_timeout"]

    def timeout_of(cell) -> float:
        # The instructor's cells (imports, set-up) get room for a slow machine; the time limit
        # is for the learner's answers and the tests that call them.
        role = cell.metadata.get("cnnlab_role", ["answer"])[0]
        return max(limit, GIVEN_CELL_TIMEOUT) if role in ("guard", "locked") else limit

    client = _client_class()(
        plan.notebook, km=km, timeout=limit, timeout_func=timeout_of, startup_timeout=120,
        allow_errors=True,
        interrupt_on_timeout=True, shutdown_kernel="immediate",
        error_on_timeout={"ename": "CellTimeout", "evalue": f"a cell ran longer than {limit:g} s "
                          "(an endless loop?) and was interrupted", "traceback": []},
        resources={"metadata": {"path": str(workdir)}})
    stop, tripped, done = threading.Event(), [], set()
    died = None
    try:
        with client.setup_kernel(env=kernel_env(workdir, job)):
            threading.Thread(target=_watch_memory, daemon=True,
                             args=(km.provisioner.pid, job["memory_mb"], stop, tripped)).start()
            for index, cell in enumerate(plan.notebook.cells):
                role, gid = plan.roles[index]
                started = time.monotonic()
                try:
                    error = client.run(cell, index)
                    stuck = error is not None and error[0] == "CellTimeout" and not _responsive(client)
                except DeadKernelError:
                    cause = ("it used more memory than the grader allows" if tripped else
                             "the code ended the process (os._exit, a crash, or memory exhaustion)")
                    died = f"the kernel died while running {role} cell {gid or index}: {cause}"
                    break
                if role == "test" and job.get("mode") == "trusted":
                    emit("trusted", test=gid, blocks=decode_output(cell.get("outputs", [])),
                         error=error, reseeded=_run_reseeded(client, cell, index))
                    done.add(gid)
                elif role == "test":
                    emit("test", test=gid, **test_record(cell, error, plan.tests[gid],
                                                         time.monotonic() - started, trusted[gid]))
                    done.add(gid)
                elif error and role in ("answer", "extra", "locked"):
                    emit("note", note=f"{role} cell {gid}: " + _explain(*error)[:300])
                if stuck:
                    died = (f"{role} cell {gid or index} ran past {limit:g} s and ignored the "
                            "interrupt, so the kernel was stopped")
                    break
    finally:
        stop.set()
        try:
            client._cleanup_kernel()
        except Exception:  # the kernel may already be gone; the parent kills what is left
            pass
    for gid, points in plan.tests.items():
        if gid not in done:
            status = "timeout" if died and "ignored the interrupt" in died else "kernel died"
            emit("test", test=gid, points=0.0, max=points, status=status,
                 message=died or "not run", duration=0.0)
    if client.output_dropped:
        emit("note", note="the notebook printed more than 1 MB; the rest of its output was dropped")
    refused = workdir / ".cnnlab_refused.log"
    if refused.exists():
        for line in sorted(set(refused.read_text(errors="replace").splitlines()))[:10]:
            emit("flag", flag=f"the grader refused: {line}")
    emit("done")


def main() -> None:
    """Read the job file named on the command line and grade it; die with the grader."""
    job = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
        if job.get("parent") and os.getppid() != job["parent"]:
            sys.exit("the grader that started this worker is gone")
    run_job(job)


if __name__ == "__main__":
    main()
