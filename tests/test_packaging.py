"""pyproject.toml and environment.yml describe the same environment."""

import re
import tomllib

import yaml

from conftest import ROOT


def _normal(requirement: str) -> str:
    name, _, rest = re.match(r"^([A-Za-z0-9_.\-]+)(\[[^\]]*\])?(.*)$", requirement.strip()).groups()
    return re.sub(r"[-_.]+", "-", name).lower() + rest.replace(" ", "")


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {_normal(r) for r in project["dependencies"] + project["optional-dependencies"]["dev"]}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    listed = {_normal(r) for r in pip_section if not r.startswith("-e")}
    assert listed == declared, (f"only in environment.yml: {sorted(listed - declared)}; "
                                f"only in pyproject.toml: {sorted(declared - listed)}")
    assert "-e ." in pip_section, "environment.yml must install the course from the checkout"
    assert any(str(d).startswith("python") for d in env["dependencies"])


def test_sample_data_ships_in_the_package():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "_data/*.npz" in config["tool"]["setuptools"]["package-data"]["cnnlab"]
    assert (ROOT / "cnnlab" / "_data" / "fashion_mnist_sample.npz").exists()


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "./course.sh test" in readme and "./course.sh lab" in readme
    assert "exec ./course.sh test" in ci
