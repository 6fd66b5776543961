"""Grade one submission in a fresh kernel: ``python -m cnnlab.grading.worker JOB.json``.

The batch grader starts one worker process per submission and kills it (kernel included) when
the notebook's time is up. The worker appends one JSON line per event to the job's progress
file as it goes (start, rejected or plan, one line per test, done), so whatever was graded
before a kill survives it.
"""

from __future__ import annotations

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

KERNEL_NAME = "cnnlab-grader"
MESSAGE_LIMIT = 1500
GIVEN_CELL_TIMEOUT = 180  # seconds for the solution's own cells: importing Keras can be slow
PROBE_TIMEOUT = 5


def write_kernelspec(folder: Path) -> Path:
    """Write a kernelspec that runs this Python (``sys.executable``) under the grader's limits."""
    spec_dir = folder / KERNEL_NAME
    spec_dir.mkdir(parents=True, exist_ok=True)
    spec = {"argv": [sys.executable, "-m", "cnnlab.grading.kernel", "-f", "{connection_file}"],
            "display_name": "cnnlab grader", "language": "python"}
    (spec_dir / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
    return folder


def kernel_env(workdir: Path, job: dict) -> dict:
    """Return the kernel's environment: home, temp and caches inside the working copy."""
    import cnnlab

    env = dict(os.environ)
    package_root = str(Path(cnnlab.__file__).resolve().parents[1])
    env.update({
        "HOME": str(workdir), "TMPDIR": str(workdir / "tmp"), "IPYTHONDIR": str(workdir / ".ipython"),
        "MPLCONFIGDIR": str(workdir / ".mpl"), "KERAS_HOME": str(workdir / ".keras"),
        "MPLBACKEND": "agg", "CUDA_VISIBLE_DEVICES": "", "PYTHONHASHSEED": "0",
        "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
        "KERAS_BACKEND": job["backend"], "CNNLAB_PROFILE": job["profile"],
        MEMORY_ENV: str(job["memory_mb"]), FILE_SIZE_ENV: str(job["file_mb"]),
        "PYTHONPATH": os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p),
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

        def output(self, outs, msg, display_id, cell_index):
            size = sum(len(v) for v in msg["content"].values() if isinstance(v, str))
            size += sum(len(str(v)) for v in msg["content"].get("data", {}).values())
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
            if process.memory_info().rss > limit_mb << 20:
                tripped.append(True)
                process.kill()
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


def _stdout_of(cell) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")


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


def test_record(cell, error: tuple[str, str] | None, points: float, duration: float) -> dict:
    """Return a test's record from its executed cell and error: passed, not done, failed, error."""
    record = {"points": points, "max": points, "status": "passed", "message": "",
              "duration": round(duration, 3)}
    if error is None:
        return record
    ename, evalue = error
    lines = [line for line in _stdout_of(cell).splitlines()
             if line.startswith(("FAIL", "NOT DONE YET", "ERROR"))]
    if ename == "NotDoneYet":
        status, message = "not done", "the answer still raises NotImplementedError (the stub)"
    elif ename == "CheckFailed":
        status, message = "failed", "; ".join(lines) or evalue
    elif ename == "AnswerError":
        status, message = "error", evalue
    elif ename in ("CellTimeout", "KeyboardInterrupt"):
        status, message = "timeout", _explain(ename, evalue)
    else:
        status, message = "error", _explain(ename, evalue)
    record.update(points=0.0, status=status, message=message[:MESSAGE_LIMIT])
    return record


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
        plan = assemble(solution, read_submission(raw), job["exercise"])
    except Rejected as reason:
        emit("rejected", reason=str(reason))
        return
    emit("plan", tests=plan.tests, notes=plan.notes, flags=plan.flags)

    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from nbclient.exceptions import DeadKernelError

    workdir = Path(job["workdir"])
    specs = KernelSpecManager(kernel_dirs=[str(write_kernelspec(Path(job["scratch"]) / "kernels"))])
    km = AsyncKernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=specs)
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
                if role == "test":
                    emit("test", test=gid, **test_record(cell, error, plan.tests[gid],
                                                         time.monotonic() - started))
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
    """Read the job file named on the command line and grade it."""
    run_job(json.loads(Path(sys.argv[1]).read_text(encoding="utf-8")))


if __name__ == "__main__":
    main()
