"""The grading kernel's guard: keeps a submission's code from changing verdicts or the disk.

The grader runs this inside each submission's kernel, before any learner code:

- :func:`start` snapshots the modules tests rely on (NumPy, Keras, builtins, cnnlab.grading)
  and installs a Python audit hook that refuses writes outside the working copy, refuses to
  start processes, and refuses to swap a function's code;
- :func:`protect` remembers the names a locked cell defined;
- :func:`restore` puts those names and the snapshotted modules back before every locked and
  test cell, so ``check = lambda *a: None`` or ``np.allclose = ...`` in an answer changes nothing.

It guards against accidents and casual cheating. Code that reaches into the interpreter's
machinery (``ctypes``, IPython internals, ``gc``) can get around it; the grader flags answers
that use those names (see :mod:`cnnlab.grading.assemble`).
"""

from __future__ import annotations

import os
import sys

# The public namespaces tests call into. Internal modules (keras.src.*, numpy._core) are left
# alone: the libraries legitimately reassign their own globals while they run.
PROTECTED_MODULES = ("builtins", "math", "numpy", "numpy.linalg", "numpy.random", "numpy.testing",
                     "keras", "keras.layers", "keras.ops", "keras.activations", "keras.models",
                     "keras.utils", "keras.backend", "cnnlab.grading", "cnnlab.grading.checks",
                     "cnnlab.grading.keras_checks")
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_PATH_EVENTS = {"os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.chmod", "os.chown",
                "os.symlink", "os.link", "os.truncate", "os.utime", "shutil.rmtree",
                "shutil.move", "shutil.copyfile", "shutil.copytree"}
_PROCESS_EVENTS = {"subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn",
                   "os.fork", "os.forkpty", "pty.spawn", "os.startfile"}
# Only __code__: the standard library sets __defaults__ itself (collections.namedtuple).
_FUNCTION_FIELDS = ("__code__",)

_state: dict = {"modules": {}, "names": {}, "arrays": {}, "classes": {}, "started": False,
                "answered": False}


class SandboxError(PermissionError):
    """The grader refused an operation a notebook is not allowed to do while graded."""


def _inside(path, root: str) -> bool:
    """Return True when ``path`` resolves to ``root`` or below it (or is /dev/null)."""
    try:
        real = os.path.realpath(os.fsdecode(path))
    except (TypeError, ValueError):
        return True  # a file descriptor number: it was opened earlier, under the same rules
    return real == os.devnull or real == root or real.startswith(root + os.sep)


def _make_hook(root: str, log_path: str):
    """Return the audit hook enforcing the rules for a working copy at ``root``."""
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def refuse(what: str):
        os.write(log_fd, (what + "\n").encode("utf-8", "replace"))
        raise SandboxError(f"the grader does not allow this while grading: {what}")

    def hook(event, args):
        if event == "open":
            path, mode, flags = args
            writes = (isinstance(mode, str) and any(ch in mode for ch in "wax+")) or (
                mode is None and isinstance(flags, int) and flags & _WRITE_FLAGS)
            if writes and path is not None and not _inside(path, root):
                refuse(f"writing {os.fsdecode(path)} (outside the working copy)")
        elif event in _PATH_EVENTS:
            for arg in args:
                if isinstance(arg, (str, bytes, os.PathLike)) and not _inside(arg, root):
                    refuse(f"{event} on {os.fsdecode(arg)} (outside the working copy)")
        elif event in _PROCESS_EVENTS:
            refuse(f"starting a process ({event})")
        elif event == "object.__setattr__" and len(args) >= 2 and args[1] in _FUNCTION_FIELDS:
            refuse(f"replacing a function's {args[1]}")

    return hook


def _snapshot_module(name: str, module) -> None:
    """Remember a module's namespace and the classes and functions defined in it."""
    namespace = dict(vars(module))
    _state["modules"][name] = (module, namespace)
    for value in namespace.values():
        if isinstance(value, type) and id(value) not in _state["classes"]:
            try:
                _state["classes"][id(value)] = (value, dict(vars(value)))
            except TypeError:
                pass


def _snapshot_modules() -> None:
    """Snapshot every loaded protected module not snapshotted yet."""
    for name in PROTECTED_MODULES:
        module = sys.modules.get(name)
        if module is not None and name not in _state["modules"]:
            _snapshot_module(name, module)


def _is_small_array(value) -> bool:
    """Return True for a NumPy array small enough to keep a pristine copy of (under 16 MB)."""
    import numpy

    return isinstance(value, numpy.ndarray) and value.nbytes < 16 << 20


def start() -> None:
    """Import what tests need, snapshot it, and install the audit hook (once per kernel)."""
    if _state["started"]:
        return
    import builtins  # noqa: F401  (snapshotted below like the other protected modules)

    import numpy  # noqa: F401

    import cnnlab.grading.checks
    from cnnlab.runtime import import_keras_quietly

    cnnlab.grading.checks.GRADING = True  # restore() keeps it so: the module is snapshotted below
    cnnlab.grading.checks.RECORDING = True  # checks hand back plain data; the grader judges

    import_keras_quietly()
    import stack_data  # noqa: F401  (IPython formats tracebacks with it; load it before the hook)
    import keras.layers  # noqa: F401
    import keras.ops  # noqa: F401

    _snapshot_modules()
    root = os.path.realpath(os.getcwd())
    sys.addaudithook(_make_hook(root, os.path.join(root, ".cnnlab_refused.log")))
    _state["started"] = True


def perturb(seed: int = 987_654_321) -> None:
    """Reseed every random generator (the grader's second trusted run finds what depends on it)."""
    import random

    import numpy

    random.seed(seed)
    numpy.random.seed(seed % 2**32)
    keras = sys.modules.get("keras")
    if keras is not None:
        keras.utils.set_random_seed(seed % 2**32)


def protect(namespace: dict, names: list[str]) -> None:
    """Remember the objects that a locked cell bound to ``names`` in ``namespace``."""
    if not _state["answered"]:
        _snapshot_modules()  # a locked cell may have imported more before any answer ran
    for name in names:
        if name in namespace:
            value = namespace[name]
            _state["names"][name] = value
            if _is_small_array(value):  # tests compare with it: keep its contents too
                _state["arrays"][name] = value.copy()


def restore(namespace: dict) -> list[str]:
    """Undo changes to protected names, modules, classes and functions; return what was changed."""
    _state["answered"] = True
    changed = []
    import numpy

    for name, value in _state["names"].items():
        if namespace.get(name, _MISSING) is not value:
            namespace[name] = value
            changed.append(name)
    for name, saved in _state["arrays"].items():
        current = namespace[name]
        if current.shape != saved.shape or not numpy.array_equal(current, saved, equal_nan=True):
            namespace[name] = _state["names"][name] = saved.copy()  # an answer wrote into it
            changed.append(f"{name}[...]")
    for name, (module, saved) in _state["modules"].items():
        if sys.modules.get(name) is not module:
            sys.modules[name] = module
            changed.append(f"sys.modules[{name!r}]")
        current = vars(module)
        for key, value in saved.items():
            if current.get(key, _MISSING) is not value:
                current[key] = value
                changed.append(f"{name}.{key}")
    for cls, saved in _state["classes"].values():
        current = dict(vars(cls))
        for key in current.keys() - saved.keys():
            try:  # an added attribute would shadow an inherited one, e.g. Layer.count_params
                delattr(cls, key)
                changed.append(f"{cls.__module__}.{cls.__qualname__}.{key}")
            except (TypeError, AttributeError):
                pass
        for key, value in saved.items():
            if current.get(key, _MISSING) is not value:
                try:
                    setattr(cls, key, value)
                    changed.append(f"{cls.__module__}.{cls.__qualname__}.{key}")
                except (TypeError, AttributeError):
                    pass
    return changed


_MISSING = object()
