"""Start an IPython kernel under the grader's limits: ``python -m cnnlab.grading.kernel -f FILE``.

The limits are set before the kernel imports anything, so a submission cannot lift them:
an address-space cap (memory exhaustion becomes a MemoryError or a dead kernel, never a
frozen machine), a cap on the size of any file it writes, and no core dumps.
"""

import os
import resource
import signal

MEMORY_ENV = "CNNLAB_GRADER_MEMORY_MB"
FILE_SIZE_ENV = "CNNLAB_GRADER_FILE_MB"


def apply_limits() -> None:
    """Set this process's memory, file-size and core-dump limits from the environment."""
    memory_mb = int(os.environ.get(MEMORY_ENV) or 0)
    if memory_mb > 0:
        resource.setrlimit(resource.RLIMIT_AS, (memory_mb << 20, memory_mb << 20))
    file_mb = int(os.environ.get(FILE_SIZE_ENV) or 0)
    if file_mb > 0:
        # Without this, writing past the cap kills the kernel; ignored, the write fails instead.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_mb << 20, file_mb << 20))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def main() -> None:
    """Apply the limits, then run an ordinary ipykernel."""
    apply_limits()
    # In a PID namespace the grader's PID means nothing (ipykernel would take its parent for
    # dead); the kernel dies with its worker anyway (see cnnlab.grading.isolation).
    os.environ.pop("JPY_PARENT_PID", None)
    from ipykernel import kernelapp

    kernelapp.launch_new_instance()


if __name__ == "__main__":
    main()
