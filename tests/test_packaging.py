"""Packaging: a light plain install, floors that Colab meets, extras for the rest, one environment file."""

import json
import re
import subprocess
import sys
import tomllib
import zipfile

import pytest
import yaml

from conftest import ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]
COLAB = PYPROJECT["tool"]["cnnlab"]["colab"]
# What an existing front end (Colab, JupyterLab, VS Code) must not get from `pip install cnnlab`.
FRONT_END_AND_TOOLS = {"jupyterlab", "notebook", "jupyter-server", "papermill", "nbval", "pytest",
                       "playwright", "nbgrader", "nbclient", "nbformat"}


def _name(requirement: str) -> str:
    return re.sub(r"[-_.]+", "-", re.match(r"^\s*([A-Za-z0-9_.\-]+)", requirement).group(1)).lower()


def _normal(requirement: str) -> str:
    name, _, rest = re.match(r"^([A-Za-z0-9_.\-]+)(\[[^\]]*\])?(.*)$", requirement.strip()).groups()
    return re.sub(r"[-_.]+", "-", name).lower() + rest.replace(" ", "")


def _floors() -> dict[str, str]:
    return {_name(r): r.split(">=")[1].strip() for r in PROJECT["dependencies"]}


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.match(r"[0-9]+(\.[0-9]+)*", text).group(0).split("."))


def test_environment_yml_matches_pyproject():
    extras = PROJECT["optional-dependencies"]
    declared = {_normal(r) for r in PROJECT["dependencies"] + [r for group in extras.values() for r in group]
                if _name(r) != "cnnlab"}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    listed = {_normal(r) for r in pip_section if not r.startswith("-e")}
    assert listed == declared, (f"only in environment.yml: {sorted(listed - declared)}; "
                                f"only in pyproject.toml: {sorted(declared - listed)}")
    assert "-e ." in pip_section, "environment.yml must install the course from the checkout"
    assert any(str(d).startswith("python") for d in env["dependencies"])


def test_dev_extra_carries_the_lab_and_the_grader_and_course_sh_installs_it():
    dev = PROJECT["optional-dependencies"]["dev"]
    assert "cnnlab[lab,grade]" in dev
    course = (ROOT / "course.sh").read_text()
    assert "setup lab" in course and "setup dev" in course and '-e "$ROOT[$extra]"' in course


def test_plain_dependencies_leave_front_end_and_tools_to_the_extras():
    plain = {_name(r) for r in PROJECT["dependencies"]}
    assert not plain & FRONT_END_AND_TOOLS, f"move {sorted(plain & FRONT_END_AND_TOOLS)} to an extra"
    extras = {_name(r) for group in PROJECT["optional-dependencies"].values() for r in group}
    assert {"jupyterlab", "papermill", "pytest", "playwright", "nbformat", "nbclient"} <= extras


def test_floors_are_what_colab_ships():
    floors = _floors()
    for name, version in COLAB.items():
        assert name in floors, f"{name} is listed as shipped by Colab but is no dependency"
        assert _version(floors[name]) <= _version(version), \
            f"{name}>={floors[name]} would upgrade Colab's {name} {version}"
    # The floors CI tests (.venv-floor) are Colab's versions, so Colab's runtime is what is tested.
    assert {n: _version(v) for n, v in floors.items()} == {n: _version(v) for n, v in COLAB.items()}


def test_license_expression_has_the_setuptools_it_needs():
    assert PROJECT["license"] == "MIT"
    requires = PYPROJECT["build-system"]["requires"]
    floor = next(r for r in requires if _name(r) == "setuptools").split(">=")[1]
    assert _version(floor) >= (77,), "license = 'MIT' (an SPDX expression) needs setuptools>=77"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--disable-pip-version-check",
                    "-w", str(out), str(ROOT)], check=True, capture_output=True)
    return next(out.glob("cnnlab-*.whl"))


def test_wheel_metadata_requires_no_front_end_or_tools(wheel):
    with zipfile.ZipFile(wheel) as z:
        metadata = z.read(next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))).decode()
    requires = re.findall(r"^Requires-Dist: (.+)$", metadata, re.M)
    plain = {_name(r) for r in requires if "extra ==" not in r}
    assert plain == set(_floors()), plain
    assert re.search(r"^License-Expression: MIT$", metadata, re.M)
    assert f"Project-URL: Repository, {PROJECT['urls']['Repository']}" in metadata


def _dry_run(wheel, tmp_path, *options) -> dict[str, str]:
    """Return ``{name: version}`` that `pip install <wheel>` would install here, changing nothing."""
    report = tmp_path / "report.json"
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--dry-run",
                           "--disable-pip-version-check", "--report", str(report), *options, str(wheel)],
                          capture_output=True, text=True)
    assert done.returncode == 0, f"pip cannot resolve the plain install:\n{done.stderr[-3000:]}"
    return {_name(item["metadata"]["name"]): item["metadata"]["version"]
            for item in json.loads(report.read_text())["install"]}


def test_plain_install_from_scratch_brings_no_front_end_or_tools(wheel, tmp_path):
    installed = _dry_run(wheel, tmp_path, "--ignore-installed")
    assert not set(installed) & FRONT_END_AND_TOOLS, sorted(set(installed) & FRONT_END_AND_TOOLS)
    assert {"tensorflow", "keras", "ipywidgets", "ipykernel", "scikit-image", "cnnlab"} <= set(installed)


def test_plain_install_upgrades_nothing_where_the_floors_are_met(wheel, tmp_path):
    """In this environment (and in .venv-floor, which holds Colab's versions) only cnnlab itself is new."""
    installed = _dry_run(wheel, tmp_path)
    assert set(installed) <= {"cnnlab"}, f"`pip install cnnlab` would change {sorted(set(installed) - {'cnnlab'})}"


def test_lessons_import_nothing_from_the_extras():
    # Everything a lesson or an exercise imports (cnnlab.grading for the self-checks, not the grader).
    code = ("import sys, cnnlab\n"
            "for name in sorted(cnnlab._SUBMODULES - {'cli'}): getattr(cnnlab, name)\n"
            "print(' '.join(sorted(m.split('.')[0] for m in sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={**__import__("os").environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    loaded = {m.replace("_", "-") for m in done.stdout.split()}
    assert not loaded & FRONT_END_AND_TOOLS, f"a lesson import pulls in {sorted(loaded & FRONT_END_AND_TOOLS)}"
    assert "keras" in loaded and "ipywidgets" in loaded


def test_sample_data_ships_in_the_package():
    assert "_data/*.npz" in PYPROJECT["tool"]["setuptools"]["package-data"]["cnnlab"]
    assert (ROOT / "cnnlab" / "_data" / "fashion_mnist_sample.npz").exists()


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "./course.sh test" in readme and "./course.sh lab" in readme
    assert "exec ./course.sh test" in ci


def test_readme_colab_instructions_follow_the_repository_url():
    import importlib.util

    spec = importlib.util.spec_from_file_location("colab_cells", ROOT / "scripts" / "colab_cells.py")
    colab_cells = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(colab_cells)
    readme = (ROOT / "README.md").read_text()
    repo = PROJECT["urls"]["Repository"].removeprefix("https://github.com/")
    lesson0 = f"https://colab.research.google.com/github/{repo}/blob/main/notebooks/00_setup_and_tour.ipynb"
    assert lesson0 in readme and f"enter `{repo}`" in readme
    assert colab_cells.cell_source() in readme, "the README must show the cell scripts/colab_cells.py writes"


def test_grade_extra_names_what_the_cli_reports_missing():
    from cnnlab.cli import GRADE_EXTRA

    assert {_name(r) for r in PROJECT["optional-dependencies"]["grade"]} == set(GRADE_EXTRA)


@pytest.mark.parametrize("module", ["nbclient", "psutil"])
def test_grading_without_the_grade_extra_says_how_to_install_it(module, tmp_path):
    """A plain install lacks the grader's tools: `cnnlab grade` names the extra, no traceback."""
    script = (f"import sys; sys.modules[{module!r}] = None  # as if not installed\n"
              "from cnnlab.cli import main\n"
              f"sys.exit(main(['grade', {str(tmp_path)!r}, '--exercise', '01_perceptron_and_mlp']))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert f"needs {module}" in done.stderr and "pip install 'cnnlab[grade]'" in done.stderr
