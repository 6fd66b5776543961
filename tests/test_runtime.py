"""cnnlab.setup: profiles, the environment override, seeding and the report line."""

import numpy as np
import pytest

import cnnlab
from cnnlab import runtime


def test_parameter_chooses_profile(monkeypatch, capsys):
    monkeypatch.delenv(runtime.PROFILE_ENV, raising=False)
    cfg = cnnlab.setup("full")
    assert cfg.name == "full" and cfg.train_size is None and not cfg.allow_sample
    line = capsys.readouterr().out.strip()
    assert line.startswith("cnnlab ") and "profile full" in line and "Keras 3." in line and "\n" not in line


def test_environment_overrides_parameter(monkeypatch):
    monkeypatch.setenv(runtime.PROFILE_ENV, "smoke")
    cfg = cnnlab.setup("full", quiet=True)
    assert cfg.smoke and cfg.allow_sample and cfg.pick(smoke="s", full="f") == "s"


def test_unknown_profile_names_the_choices(monkeypatch):
    monkeypatch.delenv(runtime.PROFILE_ENV, raising=False)
    with pytest.raises(ValueError, match=r"Unknown profile 'quick'.*\['full', 'smoke'\]"):
        cnnlab.setup("quick")
    monkeypatch.setenv(runtime.PROFILE_ENV, "fast")
    with pytest.raises(ValueError, match="CNNLAB_PROFILE"):
        cnnlab.setup("full")


def test_same_seed_same_numbers(monkeypatch):
    import keras

    monkeypatch.delenv(runtime.PROFILE_ENV, raising=False)
    draws = []
    for _ in range(2):
        cnnlab.setup("smoke", seed=7, quiet=True)
        draws.append((np.random.rand(3), keras.ops.convert_to_numpy(keras.random.normal((3,)))))
    np.testing.assert_array_equal(draws[0][0], draws[1][0])
    np.testing.assert_array_equal(draws[0][1], draws[1][1])
    cnnlab.setup("smoke", seed=8, quiet=True)
    assert not np.array_equal(np.random.rand(3), draws[0][0])


def test_subset_sizes():
    cfg = runtime.Profile("smoke", 0, 5, 2, True)
    x = np.arange(20)
    assert len(cfg.subset(x, x)[0]) == 5 and len(cfg.subset(x, x, "test")[1]) == 2
    with pytest.raises(ValueError, match="split"):
        cfg.subset(x, x, "val")


def test_runtime_detection():
    assert runtime.frontend() == "script"
    assert runtime.accelerator() in ("CPU",) or runtime.accelerator().startswith(("GPU", "TPU"))
    assert set(runtime.versions()) == {"cnnlab", "python", "keras", "backend"}


def test_native_noise_is_filtered_but_real_errors_kept():
    assert runtime._NATIVE_NOISE.search("I0000 00:00:1795 cudart_stub.cc:31] Could not find cuda drivers")
    assert not runtime._NATIVE_NOISE.search("ImportError: libfoo.so: cannot open shared object file")


def test_pinned_kernel_runs_this_python(monkeypatch):
    import sys

    from jupyter_client.kernelspec import KernelSpecManager

    monkeypatch.setenv("JUPYTER_PATH", "")
    name = runtime.pin_kernel("cnnlab-pin-test")
    spec = KernelSpecManager().get_kernel_spec(name)
    assert spec.argv[:3] == [sys.executable, "-m", "ipykernel_launcher"]


def test_every_public_submodule_is_reachable_from_a_bare_import_in_any_order():
    import subprocess
    import sys
    from pathlib import Path

    folder = Path(cnnlab.__file__).parent
    public = {p.stem for p in folder.glob("*.py")} | {p.parent.name for p in folder.glob("*/__init__.py")}
    public = {name for name in public if not name.startswith("_")}
    assert cnnlab._SUBMODULES == public and "conv_arithmetic" in public
    assert public <= set(dir(cnnlab))
    # A fresh interpreter: each attribute must work before anything imported that submodule.
    code = ("import sys, cnnlab\n"
            "for name in sys.argv[1:]:\n"
            "    assert 'cnnlab.' + name not in sys.modules or name == 'runtime', name\n"
            "    assert getattr(cnnlab, name) is sys.modules['cnnlab.' + name], name\n"
            "print('ok')")
    order = ["conv_arithmetic", "layer_costs"] + sorted(public - {"conv_arithmetic", "layer_costs"}, reverse=True)
    done = subprocess.run([sys.executable, "-c", code, *order[:2]], capture_output=True, text=True)
    assert done.stdout.strip() == "ok", done.stderr[-2000:]
    done = subprocess.run([sys.executable, "-c", "import cnnlab\n" + "\n".join(
        f"cnnlab.{name}" for name in order) + "\nprint('ok')"], capture_output=True, text=True)
    assert done.stdout.strip() == "ok", done.stderr[-2000:]
    with pytest.raises(AttributeError, match="no attribute 'nonexistent'"):
        cnnlab.nonexistent


def test_running_time_states_profile_and_a_readable_duration(monkeypatch):
    monkeypatch.delenv("CNNLAB_PROFILE", raising=False)
    cfg = runtime.Profile("full", 0, None, None, False, started=runtime.time.perf_counter() - 3.0)
    line = cfg.running_time()
    assert line.startswith("Lesson ran in 3 s (profile full, "), line
    assert runtime.duration(600) == "10.0 min"
