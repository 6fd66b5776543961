"""Run a grading kernel isolated from the grader, the disk and the network (Linux namespaces).

:func:`wrap` turns a kernel command line into one that runs it under util-linux ``unshare``
in new PID, mount, network and IPC namespaces (plus a user namespace when the grader is not
root). Inside, ``python -m cnnlab.grading.isolation CONFIG -- KERNEL...`` (this module) is
PID 1 and builds a bare root file system before it starts the kernel:

- read-only: the system folders (``/usr``, ``/lib``, ``/etc``...), the Python installation and
  the ``cnnlab`` package folder, nothing else: no ``solutions/``, no submissions, no grades;
- read-write: the submission's working copy only (``TMPDIR`` is a folder inside it; ``/tmp``
  is read-only), and a private 64 MB ``/dev/shm`` that ends with the namespace;
- a fresh ``/proc`` that shows only the kernel's own processes, a minimal ``/dev``, no network
  but a loopback, and no way back to the old root (``pivot_root``);
- the kernel runs as ``nobody`` (when the grader is root) or without any capability (in a user
  namespace), with ``no_new_privs``.

When PID 1 ends, the kernel ends every process left in its namespace, however it was started
(``setsid``, double fork). :func:`probe` says whether this machine can do all this; where it
cannot (macOS, no user namespaces) the grader says so and grades without it.
"""

from __future__ import annotations

import ctypes
import dataclasses
import functools
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

NOBODY = 65534
MAX_PROCESSES = 1024  # per uid: the kernel's threads count too
_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 1, 2, 4, 8
_MS_REMOUNT, _MS_BIND, _MS_REC, _MS_PRIVATE = 32, 4096, 16384, 1 << 18
_MNT_DETACH = 2
_PR_SET_PDEATHSIG, _PR_CAPBSET_DROP, _PR_SET_NO_NEW_PRIVS = 1, 24, 38
_PR_SET_SECUREBITS, _SECBIT_NOROOT_ALL = 28, 0x3F  # NOROOT, NO_SETUID_FIXUP, KEEP_CAPS, locked
_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41}
DEVICES = ("null", "zero", "full", "random", "urandom")
# A file outside the system folders that a kernel must not see (the repository's solutions/
# when it is one); the probe checks it is hidden.
ROOT_MARKER = Path(__file__).resolve().parents[2] / "pyproject.toml"


@dataclasses.dataclass(frozen=True)
class Isolation:
    """What the machine gives: ``active`` and, in words, what is in force or why not."""

    active: bool
    summary: str


def system_paths() -> list[str]:
    """Return the folders a kernel needs to read: system, Python installation, cnnlab package."""
    import cnnlab

    package = Path(cnnlab.__file__).resolve().parent
    paths = ["/usr", "/lib", "/lib32", "/lib64", "/libx32", "/bin", "/sbin", "/etc",
             "/opt/conda" if Path("/opt/conda").is_dir() else "", sys.prefix, sys.base_prefix,
             sys.exec_prefix, str(Path(sys.executable).resolve().parents[1]), str(package)]
    import site

    paths += [p for p in site.getsitepackages() + [site.getusersitepackages()] if Path(p).is_dir()]
    kept = []
    for path in sorted({os.path.realpath(p) for p in paths if p and os.path.exists(p)}, key=len):
        if not any(path == k or path.startswith(k + os.sep) for k in kept):
            kept.append(path)
    # A venv's own folder may be a symlink target elsewhere; keep the unresolved paths too.
    for path in (sys.prefix, str(package)):
        if os.path.realpath(path) != path and Path(path).exists():
            kept.append(path)
    return kept


def system_links() -> dict[str, str]:
    """Return the top-level symlinks the root needs (``/lib -> usr/lib`` on merged-/usr systems)."""
    return {f"/{name}": os.readlink(f"/{name}") for name in
            ("bin", "sbin", "lib", "lib32", "lib64", "libx32") if os.path.islink(f"/{name}")}


def _unshare_argv() -> list[str]:
    unshare = shutil.which("unshare")
    argv = [unshare, "--pid", "--fork", "--kill-child", "--mount", "--net", "--ipc", "--uts"]
    if os.geteuid() != 0:
        argv += ["--user", "--map-root-user"]
    return argv + ["--"]


def wrap(argv: list[str], workdir: Path, root: Path, uid: int | None = None) -> list[str]:
    """Return ``argv`` run isolated with ``workdir`` its only writable folder (see module doc).

    ``root`` is an empty folder the namespace mounts its bare root file system on.
    """
    config = {"work": str(Path(workdir).resolve()), "root": str(Path(root).resolve()),
              "ro": system_paths(), "links": system_links(),
              "uid": (NOBODY if uid is None else uid) if os.geteuid() == 0 else None}
    return _unshare_argv() + [sys.executable, "-m", "cnnlab.grading.isolation",
                              json.dumps(config), "--"] + list(argv)


def prepare_workdir(workdir: Path) -> None:
    """Give the working copy to the kernel's user (``nobody`` when the grader is root)."""
    if os.geteuid() != 0:
        return
    for folder, _, files in os.walk(workdir):
        os.chown(folder, NOBODY, NOBODY)
        for name in files:
            os.lchown(os.path.join(folder, name), NOBODY, NOBODY)


@functools.lru_cache(maxsize=None)
def probe() -> Isolation:
    """Return whether kernels can run isolated here, trying it once with a tiny command."""
    if not sys.platform.startswith("linux"):
        return Isolation(False, f"not isolated: {sys.platform} has no Linux namespaces; kernels "
                                "run as the grader's user with the grader's access to files")
    if not shutil.which("unshare"):
        return Isolation(False, "not isolated: util-linux `unshare` is not installed")
    import tempfile

    with tempfile.TemporaryDirectory(prefix="cnnlab-probe-") as tmp:
        work, root = Path(tmp) / "work", Path(tmp) / "root"
        work.mkdir()
        root.mkdir()
        prepare_workdir(work)
        test = ("import os, socket; open('w', 'w').write('ok'); "
                "print(os.getpid(), os.getuid(), len([p for p in os.listdir('/proc') if p.isdigit()]),"
                " os.path.exists(" + repr(str(Path(tmp) / "root")) + "), "
                "os.access('/tmp', os.W_OK), os.path.exists(" + repr(str(ROOT_MARKER)) + "))")
        command = wrap([sys.executable, "-c", test], work, root)
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=work)
        except (OSError, subprocess.TimeoutExpired) as error:
            return Isolation(False, f"not isolated: unshare failed to start ({error})")
        if done.returncode != 0:
            why = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
            return Isolation(False, f"not isolated: this machine refuses Linux namespaces ({why[:200]})")
        pid, uid, visible, *outside = done.stdout.split()
        if int(visible) > 3 or outside != ["False"] * 3 or (work / "w").read_text() != "ok":
            return Isolation(False, f"not isolated: the namespace test gave {done.stdout.strip()!r}")
    who = "as user nobody" if uid == str(NOBODY) else "without capabilities (user namespace)"
    return Isolation(True, "isolated: each kernel in its own PID, mount, network and IPC "
                           f"namespaces {who}, reading only system and Python folders, writing "
                           "only its working copy, no network")


# --- inside the namespace: PID 1 ------------------------------------------------------------

def _libc():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = [ctypes.c_char_p] * 3 + [ctypes.c_ulong, ctypes.c_char_p]
    libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
    return libc


def _call(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _mount(libc, source, target, fstype, flags, data=None) -> None:
    enc = lambda s: None if s is None else os.fsencode(s)  # noqa: E731
    _call(libc.mount(enc(source), enc(target), enc(fstype), flags, enc(data)), f"mount {target}")


def _locked_flags(path: str) -> int:
    """Return the mount flags a read-only remount must keep (a user namespace cannot drop them)."""
    flags = os.statvfs(path).f_flag
    return ((_MS_NOSUID if flags & os.ST_NOSUID else 0) | (_MS_NODEV if flags & os.ST_NODEV else 0)
            | (_MS_NOEXEC if flags & os.ST_NOEXEC else 0))


def _bind(libc, source: str, target: str, writable: bool) -> None:
    if os.path.isdir(source):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        open(target, "a").close()
    _mount(libc, source, target, None, _MS_BIND | _MS_REC)
    flags = _MS_BIND | _MS_REMOUNT | _MS_NOSUID | _locked_flags(source) | (0 if writable else _MS_RDONLY)
    _mount(libc, None, target, None, flags)


def _hide_ancestors(root: str, work: str) -> None:
    """Make the folders above the working copy passable but not listable (mode --x--x--x), so
    the kernel cannot read the grader's scratch names (other submissions, trusted runs) there;
    the read-only folders bound below them stay reachable by their full paths."""
    for parent in Path(work).parents:
        if str(parent) != "/":
            os.chmod(root + str(parent), 0o111)


def _build_root(libc, config: dict) -> None:
    """Mount the bare root on config['root'] and pivot into it (see the module doc)."""
    root, work = config["root"], config["work"]
    _mount(libc, None, "/", None, _MS_REC | _MS_PRIVATE)
    _mount(libc, "tmpfs", root, "tmpfs", _MS_NOSUID | _MS_NODEV, "mode=755,size=16m")
    for path in config["ro"]:
        _bind(libc, path, root + path, writable=False)
    for path, target in config.get("links", {}).items():
        if not os.path.lexists(root + path):
            os.symlink(target, root + path)
    _bind(libc, work, root + work, writable=True)
    os.makedirs(root + "/tmp", exist_ok=True)  # read-only like the rest: TMPDIR is in the work
    _hide_ancestors(root, work)
    os.makedirs(root + "/dev", exist_ok=True)
    for name in DEVICES:
        _bind(libc, "/dev/" + name, f"{root}/dev/{name}", writable=True)
    os.makedirs(root + "/dev/shm", exist_ok=True)
    _mount(libc, "tmpfs", root + "/dev/shm", "tmpfs", _MS_NOSUID | _MS_NODEV, "mode=1777,size=64m")
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        os.symlink(target, f"{root}/dev/{name}")
    os.makedirs(root + "/proc", exist_ok=True)
    _mount(libc, "proc", root + "/proc", "proc", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC)
    _mount(libc, None, root, None, _MS_BIND | _MS_REMOUNT | _MS_RDONLY | _MS_NOSUID | _MS_NODEV)
    os.chdir(root)
    number = _PIVOT_ROOT.get(os.uname().machine)
    if number is not None and libc.syscall(number, b".", b".") == 0:
        _call(libc.umount2(b".", _MNT_DETACH), "umount the old root")
    else:  # no pivot_root here: chroot, and the capabilities that could undo it go below
        os.chroot(".")
    os.chdir(work)


def _drop_privileges(libc, uid: int | None) -> None:
    """Become ``uid`` (as root) or give up every capability (user namespace); no new privileges."""
    import resource

    if uid is not None:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        resource.setrlimit(resource.RLIMIT_NPROC, (MAX_PROCESSES, MAX_PROCESSES))
        os.setresuid(uid, uid, uid)
    else:
        for cap in range(64):
            if libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
                break
        _call(libc.prctl(_PR_SET_SECUREBITS, _SECBIT_NOROOT_ALL, 0, 0, 0), "securebits")
    _call(libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")


def _forward(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except OSError:
        pass


def main(argv: list[str]) -> int:
    """PID 1 of the namespace: build the root, start the command unprivileged, wait, return."""
    config, command = json.loads(argv[0]), argv[argv.index("--") + 1:]
    libc = _libc()
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # unshare gone: so is everything
    uid = config.get("uid")
    if uid is not None and "-f" in command:  # the kernel reads its connection file as `uid`
        os.chown(command[command.index("-f") + 1], uid, uid)
    _build_root(libc, config)
    child = os.fork()
    if child == 0:
        try:
            os.setsid()
            _drop_privileges(libc, uid)
            os.execv(command[0], command)
        finally:
            os._exit(127)
    for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, lambda signum, frame: _forward(child, signum))
    while True:  # reap orphans until the kernel ends; leaving ends the whole namespace
        try:
            pid, status = os.wait()
        except ChildProcessError:
            return 0
        except InterruptedError:
            continue
        if pid == child:
            return os.waitstatus_to_exitcode(status) & 0xFF


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
