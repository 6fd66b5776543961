"""Tests for cnnlab.leaderboard and viz.plot_leaderboard: exact counts, who writes where, bad input."""

import tomllib

import keras
import pandas as pd
import pytest

from cnnlab import leaderboard, params, viz
from cnnlab.runtime import Profile
from conftest import ROOT

FULL = Profile("full", 42, None, None, False)
SMOKE = Profile("smoke", 42, 2000, 500, True)


@pytest.fixture(autouse=True)
def own_tables(tmp_path, monkeypatch):
    """Every test gets its own local table and no course-table override."""
    monkeypatch.setenv("CNNLAB_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CNNLAB_LEADERBOARD", raising=False)


@pytest.fixture
def course(tmp_path, monkeypatch):
    """A course table with two rows standing in for the shipped file."""
    path = tmp_path / "course.csv"
    pd.DataFrame([
        dict(name="MLP", test_accuracy=0.8912, params=535_818, macs=535_040, train_seconds=60.0,
             hardware="CPU, 2 CPU cores", backend="tensorflow 2.18.0", profile="full", date="2026-01-01"),
        dict(name="First CNN", test_accuracy=0.9150, params=300_000, macs=9_000_000, train_seconds=400.0,
             hardware="CPU, 2 CPU cores", backend="tensorflow 2.18.0", profile="full", date="2026-01-01"),
    ]).to_csv(path, index=False)
    monkeypatch.setattr(leaderboard, "SHIPPED", path)
    return path


def small_cnn(input_shape=(28, 28, 1)):
    return keras.Sequential([
        keras.Input(input_shape),
        keras.layers.Conv2D(8, 3, activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(),
        keras.layers.Dropout(0.5),
        keras.layers.Dense(10, activation="softmax"),
    ])


def add(name="Tiny CNN", cfg=FULL, accuracy=0.9, seconds=12.5, model=None, **kwargs):
    return leaderboard.add_row(name, model=model or small_cnn(), test_accuracy=accuracy,
                               train_seconds=seconds, cfg=cfg, **kwargs)


@pytest.mark.backends
def test_row_counts_match_cnnlab_params_and_keras():
    model = small_cnn()
    row = leaderboard.make_row("Tiny CNN", model=model, test_accuracy=0.9, train_seconds=3, cfg=FULL)
    totals = params.summary(model).totals
    assert row["params"] == model.count_params() == totals["params"] == (3 * 3 * 1 + 1) * 8 + 13 * 13 * 8 * 10 + 10
    # conv: 26*26 positions, 8 filters, 3*3 weights each; dense: 1,352 inputs, 10 units
    assert row["macs"] == totals["macs"] == 26 * 26 * 8 * 9 + 13 * 13 * 8 * 10
    assert row["profile"] == "full" and row["hardware"].endswith("CPU cores")
    assert row["backend"].startswith(keras.backend.backend())
    assert list(row) == leaderboard.COLUMNS


def test_counts_follow_the_input_shape():
    small = leaderboard.make_row("a", model=small_cnn((28, 28, 1)), test_accuracy=0.5, train_seconds=1, cfg=FULL)
    large = leaderboard.make_row("b", model=small_cnn((32, 32, 3)), test_accuracy=0.5, train_seconds=1, cfg=FULL)
    assert large["macs"] == 30 * 30 * 8 * 27 + 15 * 15 * 8 * 10
    assert large["params"] - small["params"] == 2 * 9 * 8 + (15 * 15 - 13 * 13) * 8 * 10


def test_smoke_run_writes_nothing_but_returns_the_row(course, tmp_path, monkeypatch):
    before = course.read_bytes()
    table = add(cfg=SMOKE, accuracy=0.42)
    assert not leaderboard.local_path().exists()
    assert course.read_bytes() == before
    row = table.set_index("name").loc["Tiny CNN"]
    assert row.test_accuracy == 0.42 and row.profile == "smoke" and row.source == "yours"
    assert set(table["name"]) == {"MLP", "First CNN", "Tiny CNN"}
    # With the course table named by the variable (as scripts/run_notebooks.py does), still no write.
    named = tmp_path / "named.csv"
    monkeypatch.setenv("CNNLAB_LEADERBOARD", str(named))
    assert "Tiny CNN" in set(add(cfg=SMOKE)["name"]) and not named.exists()


def test_full_run_writes_the_local_table_and_a_rerun_replaces_its_row(course):
    add("Tiny CNN", accuracy=0.80)
    add("Other", accuracy=0.70)
    table = add("Tiny CNN", accuracy=0.85, seconds=20)
    saved = pd.read_csv(leaderboard.local_path())
    assert list(saved.columns) == leaderboard.COLUMNS
    assert sorted(saved["name"]) == ["Other", "Tiny CNN"]
    assert saved.set_index("name").loc["Tiny CNN", "test_accuracy"] == 0.85
    assert list(table["name"]) == ["First CNN", "MLP", "Tiny CNN", "Other"]  # best accuracy first
    assert table.set_index("name").loc["Tiny CNN", "train_seconds"] == 20


def test_the_named_table_is_the_only_one_read_and_written(course, tmp_path, monkeypatch):
    named = tmp_path / "shipped copy.csv"
    named.write_bytes(course.read_bytes())
    monkeypatch.setenv("CNNLAB_LEADERBOARD", str(named))
    table = add("First CNN", accuracy=0.93)
    assert not leaderboard.local_path().exists()
    saved = pd.read_csv(named).set_index("name")
    assert saved.loc["First CNN", "test_accuracy"] == 0.93 and saved.loc["MLP", "test_accuracy"] == 0.8912
    assert len(saved) == 2 and set(table["source"]) == {"course"}
    assert course.read_bytes() != named.read_bytes()


def test_an_interrupted_write_leaves_the_old_table_and_no_temporary_file(tmp_path, monkeypatch):
    path = tmp_path / "board.csv"
    add("Tiny CNN", accuracy=0.8, path=path)
    before = path.read_bytes()

    def crash(self, stream, **kwargs):
        stream.write("name,test_acc")  # half a header, then the process dies
        raise KeyboardInterrupt

    monkeypatch.setattr(pd.DataFrame, "to_csv", crash)
    with pytest.raises(KeyboardInterrupt):
        add("Tiny CNN", accuracy=0.9, path=path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["board.csv"]


def test_local_rows_add_to_and_replace_course_rows(course):
    add("First CNN", accuracy=0.9301)
    add("My ResNet", accuracy=0.95)
    table = leaderboard.load().set_index("name")
    assert table.loc["First CNN", "test_accuracy"] == 0.9301 and table.loc["First CNN", "source"] == "yours"
    assert table.loc["MLP", "source"] == "course" and table.loc["My ResNet", "source"] == "yours"
    assert len(table) == 3
    assert list(table.index) == ["My ResNet", "First CNN", "MLP"]


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(accuracy=91.5), ValueError, r"\[0, 1\]"),
    (dict(accuracy=-0.1), ValueError, r"\[0, 1\]"),
    (dict(accuracy="high"), TypeError, "number"),
    (dict(seconds=-1), ValueError, "train_seconds must be >= 0"),
    (dict(seconds=float("nan")), ValueError, "finite"),
    (dict(name=" "), ValueError, "non-empty"),
    (dict(cfg="full"), TypeError, "cnnlab.setup"),
    (dict(model=lambda: keras.Sequential([keras.layers.Dense(3)])), ValueError, "input shape .* unknown"),
    (dict(model=lambda: keras.Sequential([keras.Input((None, None, 1)), keras.layers.Conv2D(4, 3),
                                          keras.layers.GlobalAveragePooling2D()])),
     ValueError, r"keras.Input\(shape="),
    (dict(model=lambda: keras.layers.Dense(3)), TypeError, "keras.Model"),
])
def test_bad_input_is_refused_with_a_clear_message(kwargs, error, message):
    if "model" in kwargs:
        kwargs["model"] = kwargs["model"]()
    with pytest.raises(error, match=message):
        add(**kwargs)
    assert not leaderboard.local_path().exists()


def test_a_damaged_table_names_the_file(tmp_path):
    path = tmp_path / "board.csv"
    path.write_text("name,score\nx,1\n")
    with pytest.raises(ValueError, match="lacks the columns"):
        leaderboard.load(path)


def test_the_shipped_table_parses_with_the_columns_and_ships_as_package_data():
    assert leaderboard.SHIPPED == ROOT / "cnnlab" / "_data" / "leaderboard.csv"
    shipped = pd.read_csv(leaderboard.SHIPPED)
    assert list(shipped.columns) == leaderboard.COLUMNS
    assert shipped["name"].is_unique and shipped["test_accuracy"].between(0, 1).all()
    assert (shipped["profile"] == "full").all(), "only full-profile runs belong in the course table"
    assert (shipped["params"] > 0).all()
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "_data/*.csv" in config["tool"]["setuptools"]["package-data"]["cnnlab"]
    loaded = leaderboard.load()
    assert list(loaded.columns) == leaderboard.COLUMNS + ["source"] and len(loaded) == len(shipped)


def test_plot_has_one_labelled_point_per_model_on_log_axes(course):
    add("Tiny CNN", accuracy=0.88, seconds=5)
    table = leaderboard.load()
    fig = viz.plot_leaderboard(table)
    ax_params, ax_time = fig.axes
    assert ax_params.get_xscale() == "log" and ax_params.get_ylabel() == "test accuracy"
    for ax, column in ((ax_params, "params"), (ax_time, "train_seconds")):
        points = ax.collections[0].get_offsets()
        assert [tuple(p) for p in points] == list(zip(table[column].astype(float), table["test_accuracy"]))
        labels = {text.get_text(): text.xy for text in ax.texts}
        assert set(labels) == {"MLP", "First CNN", "Tiny CNN"}
        assert labels["MLP"] == (float(table.set_index("name").loc["MLP", column]), 0.8912)
    colours = {tuple(colour): source for colour, source in
               zip(ax_params.collections[0].get_facecolors(), table["source"])}
    assert sorted(colours.values()) == ["course", "yours"]  # one colour per source


def test_plot_says_what_is_missing():
    with pytest.raises(KeyError, match="train_seconds"):
        viz.plot_leaderboard(pd.DataFrame({"name": ["a"], "test_accuracy": [0.5], "params": [10]}))
    empty = viz.plot_leaderboard(leaderboard.load(ROOT / "does-not-exist.csv"))
    assert any("no rows yet" in text.get_text() for text in empty.texts)
