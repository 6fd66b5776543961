"""Shared test set-up: quiet backends, the smoke profile, and a kernel pinned to this Python."""

import json
import os
import sys
import tempfile
from pathlib import Path

# Before anything imports a backend or starts a kernel (kernels inherit this environment).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CNNLAB_PROFILE", "smoke")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")

ROOT = Path(__file__).resolve().parent.parent

# papermill and nbclient look kernels up by name, and a user-level 'python3' kernelspec
# would win over this environment's. A kernelspec of our own, first on JUPYTER_PATH, pins
# every executed notebook to the interpreter running the tests.
KERNEL_NAME = "cnnlab-test"
_kernel_root = Path(tempfile.mkdtemp(prefix="cnnlab-kernels-"))
_spec_dir = _kernel_root / "kernels" / KERNEL_NAME
_spec_dir.mkdir(parents=True)
(_spec_dir / "kernel.json").write_text(json.dumps({
    "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
    "display_name": "cnnlab tests",
    "language": "python",
}))
os.environ["JUPYTER_PATH"] = os.pathsep.join(
    [str(_kernel_root)] + [p for p in os.environ.get("JUPYTER_PATH", "").split(os.pathsep) if p])
