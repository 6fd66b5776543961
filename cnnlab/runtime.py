"""Set-up for every lesson: profiles, seeds and a report of the runtime.

A lesson starts with::

    PROFILE = "full"                 # the cell tagged `parameters`
    cfg = cnnlab.setup(PROFILE)      # seeds, detects the runtime, prints one line

`cfg` is a :class:`Profile`. Its two settings, ``smoke`` (seconds, for CI) and
``full`` (the real lesson), differ only in how much data and training a lesson
uses, so a lesson asks the profile rather than branching on its name::

    EPOCHS = cfg.pick(smoke=1, full=15)
    x_train, y_train = cfg.subset(x_train, y_train)

The environment variable ``CNNLAB_PROFILE`` overrides the parameter. It exists for
front ends that cannot inject parameters (Colab) and for tools that strip the
``parameters`` tag papermill relies on.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import platform
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PROFILE_ENV = "CNNLAB_PROFILE"

_SETTINGS = {
    "smoke": dict(train_size=2000, test_size=500, allow_sample=True),
    "full": dict(train_size=None, test_size=None, allow_sample=False),
}


@dataclasses.dataclass(frozen=True)
class Profile:
    """How much data and training a lesson uses; see the module docstring."""

    name: str
    seed: int
    train_size: int | None
    test_size: int | None
    allow_sample: bool
    started: float = dataclasses.field(default_factory=time.perf_counter, compare=False, repr=False)

    @property
    def smoke(self) -> bool:
        """True in the quick CI profile."""
        return self.name == "smoke"

    def pick(self, *, smoke: Any, full: Any) -> Any:
        """Return the value given for this profile.

        >>> Profile("smoke", 0, 10, 10, True).pick(smoke=1, full=20)
        1
        """
        return smoke if self.smoke else full

    def subset(self, x, y, split: str = "train"):
        """Return the first ``train_size`` (or ``test_size``) examples of ``x`` and ``y``.

        >>> import numpy as np
        >>> cfg = Profile("smoke", 0, 3, 2, True)
        >>> [a.shape for a in cfg.subset(np.zeros((10, 4)), np.arange(10))]
        [(3, 4), (3,)]
        """
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        size = self.train_size if split == "train" else self.test_size
        if size is None:
            return x, y
        return x[:size], y[:size]

    def elapsed(self) -> float:
        """Return the seconds since `setup` created this profile (the lesson's running time)."""
        return time.perf_counter() - self.started

    def running_time(self) -> str:
        """Return a line stating how long the lesson has run, in which profile and on what.

        A lesson's last code cell prints it, so stated running times are measured ones.
        """
        return (f"Lesson ran in {duration(self.elapsed())} (profile {self.name}, {accelerator()}, "
                f"{os.cpu_count()} CPU cores, Keras on {versions()['backend']})")


def duration(seconds: float) -> str:
    """Return a running time in words a learner reads at a glance: seconds under a minute.

    >>> duration(4.2), duration(59.6), duration(354)
    ('4 s', '60 s', '5.9 min')
    """
    return f"{seconds:.0f} s" if seconds < 59.95 else f"{seconds / 60:.1f} min"


def resolve_profile(profile: str) -> str:
    """Return the profile name in force: ``$CNNLAB_PROFILE`` if set, else ``profile``."""
    name = (os.environ.get(PROFILE_ENV) or profile or "").strip().lower()
    if name not in _SETTINGS:
        source = f"${PROFILE_ENV}" if os.environ.get(PROFILE_ENV) else "the PROFILE parameter"
        raise ValueError(
            f"Unknown profile {name!r} (from {source}). Use one of "
            f"{sorted(_SETTINGS)}: 'smoke' runs in seconds, 'full' is the real lesson."
        )
    return name


def setup(profile: str = "full", seed: int = 42, *, quiet: bool = False) -> Profile:
    """Seed Python, NumPy and Keras, print a one-line runtime report, return the profile."""
    name = resolve_profile(profile)
    keras = import_keras_quietly()

    keras.utils.set_random_seed(seed)
    cfg = Profile(name=name, seed=seed, **_SETTINGS[name])
    if not quiet:
        print(report_line(cfg))
    return cfg


# Lines the native backends write straight to file descriptor 2 while they load. They
# bypass Python's logging (so TF_CPP_MIN_LOG_LEVEL cannot stop all of them) and would
# otherwise land in every lesson's first output and in nbval's comparisons.
_NATIVE_NOISE = re.compile(
    r"absl::InitializeLog|cudart_stub|cuda_(dnn|fft|blas)|Unable to register|computation placer|"
    r"oneDNN custom operations|TensorFlow binary is optimized|rebuild TensorFlow|"
    r"Could not find cuda drivers|E0000 00:00|W0000 00:00|I0000 00:00|^\s*$"
)


def import_keras_quietly():
    """Import and return keras, dropping the backend's native start-up chatter but no real error."""
    if "keras" in sys.modules:
        return sys.modules["keras"]
    try:
        saved = os.dup(2)
    except OSError:  # no real stderr (some embedded front ends): nothing to silence
        import keras

        return keras
    with tempfile.TemporaryFile(mode="w+b") as sink:
        sys.stderr.flush()
        os.dup2(sink.fileno(), 2)
        try:
            import keras
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            for line in sink.read().decode(errors="replace").splitlines():
                if not _NATIVE_NOISE.search(line):
                    print(line, file=sys.stderr)
    if keras.backend.backend() == "tensorflow":
        # TensorFlow's Python logger warns about function retracing whenever a lesson builds
        # several small models; the advice does not apply to teaching code.
        logging.getLogger("tensorflow").setLevel(logging.ERROR)
    return keras


def frontend() -> str:
    """Return where the code runs: 'colab', 'jupyter' or 'script'."""
    if "google.colab" in sys.modules or os.environ.get("COLAB_RELEASE_TAG"):
        return "colab"
    try:
        from IPython import get_ipython
    except ImportError:
        return "script"
    shell = get_ipython()
    if shell is not None and type(shell).__name__ == "ZMQInteractiveShell":
        return "jupyter"
    return "script"


def accelerator() -> str:
    """Return the accelerator Keras' backend sees, e.g. 'GPU (NVIDIA H100)', 'TPU' or 'CPU'."""
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        for kind in ("TPU", "GPU"):
            devices = tf.config.list_physical_devices(kind)
            if devices:
                return f"{kind} x{len(devices)}"
        return "CPU"
    if backend == "jax":
        import jax

        device = jax.devices()[0]
        return "CPU" if device.platform == "cpu" else f"{device.platform.upper()} ({device.device_kind})"
    if backend == "torch":
        import torch

        if torch.cuda.is_available():
            return f"GPU ({torch.cuda.get_device_name(0)})"
    return "CPU"


def versions() -> dict[str, str]:
    """Return the versions that matter for reproducing a lesson."""
    import keras

    from cnnlab import __version__

    backend = keras.backend.backend()
    try:
        backend_version = __import__(backend).__version__
    except (ImportError, AttributeError):
        backend_version = "?"
    return {
        "cnnlab": __version__,
        "python": platform.python_version(),
        "keras": keras.__version__,
        "backend": f"{backend} {backend_version}",
    }


def report_line(cfg: Profile) -> str:
    """Return the one-line report `setup` prints."""
    v = versions()
    return (
        f"cnnlab {v['cnnlab']} | profile {cfg.name} | seed {cfg.seed} | {frontend()} | "
        f"{accelerator()}, {os.cpu_count()} CPU cores | Python {v['python']} | "
        f"Keras {v['keras']} on {v['backend']}"
    )


def pin_kernel(name: str = "cnnlab") -> str:
    """Register a kernelspec that runs this Python, first on JUPYTER_PATH, and return its name.

    papermill and nbclient look kernels up by name, and a user-level ``python3`` kernelspec
    would win over this environment's, so executed notebooks could run in another Python.
    """
    root = Path(tempfile.mkdtemp(prefix="cnnlab-kernels-"))
    spec = root / "kernels" / name
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": f"cnnlab ({name})", "language": "python"}))
    os.environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(root), os.environ.get("JUPYTER_PATH")]))
    return name
