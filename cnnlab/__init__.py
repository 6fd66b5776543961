"""cnnlab: helpers for an interactive course on neural networks and CNNs with Keras 3.

Import order matters for a quiet notebook: TensorFlow prints C++ log lines to the
process's stderr when it loads, which would land in the first cell's output. Importing
cnnlab first sets the log level before any backend is imported.
"""

import os as _os
import pkgutil as _pkgutil

_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
_os.environ.setdefault("KERAS_BACKEND", "tensorflow")

__version__ = "0.1.0"

from cnnlab.runtime import Profile, setup  # noqa: E402

__all__ = ["Profile", "setup", "__version__"]

# Every public submodule (a module or package in this folder not starting with "_"), so
# `import cnnlab; cnnlab.conv_arithmetic` works in any order without a list to keep in step.
_SUBMODULES = frozenset(m.name for m in _pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def __getattr__(name):
    # Lessons write `cnnlab.viz.plot_history(...)` after a bare `import cnnlab`; importing
    # the heavy submodules only on first use keeps `import cnnlab` instant.
    if name in _SUBMODULES:
        import importlib

        return importlib.import_module(f"cnnlab.{name}")
    raise AttributeError(f"module 'cnnlab' has no attribute {name!r}")


def __dir__():
    """List the submodules too, so tab completion offers `cnnlab.viz` before it is imported."""
    return sorted(set(globals()) | _SUBMODULES)
