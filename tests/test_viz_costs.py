"""Tests for cnnlab.viz.costs: grouped cost bars drawn from a table, short numbers, bad input."""

import numpy as np
import pandas as pd
import pytest

from cnnlab.viz.costs import plot_costs, short_number

TABLE = pd.DataFrame({"standard": [2160, 924_844_032, 51_380_224], "separable": [672, 109_985_792, 6_022_144]},
                     index=["6x6x3 -> 5", "112x112x64 -> 128", "7x7x1024 -> 1024"])


def test_one_bar_per_value_with_its_length_and_label():
    fig = plot_costs(TABLE)
    ax = fig.axes[0]
    widths = [p.get_width() for p in ax.patches]
    assert widths == TABLE["standard"].tolist() + TABLE["separable"].tolist()
    assert [t.get_text() for t in ax.get_yticklabels()] == list(TABLE.index)
    labels = [t.get_text() for t in ax.texts]
    assert labels == ["2.2k", "925M", "51M", "672", "110M", "6.0M"]
    assert ax.get_xscale() == "log"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["standard", "separable"]


def test_first_row_is_drawn_on_top():
    ax = plot_costs(TABLE).axes[0]
    bottom, top = ax.get_ylim()
    assert bottom > top  # inverted: row 0 at the top


def test_integer_tables_and_the_call_lessons_make():
    # Lessons pass integer MAC columns from cnnlab.params and name the axis and the figure.
    frame = pd.DataFrame({"parameters": [1_792, 14_714_688], "MACs": [86_704_128, 15_346_630_656]},
                         index=["block1", "all"])
    ax = plot_costs(frame, xlabel="parameters and MACs per 224x224 image", title="VGG-16").axes[0]
    assert len(ax.patches) == 4 and ax.get_title() == "VGG-16"
    assert ax.get_xlabel() == "parameters and MACs per 224x224 image (log scale)"
    assert [t.get_text() for t in ax.texts] == ["1.8k", "15M", "87M", "15G"]


def test_linear_scale_and_title():
    fig = plot_costs(TABLE[["standard"]], log=False, xlabel="parameters", title="cost")
    ax = fig.axes[0]
    assert ax.get_xscale() == "linear" and ax.get_title() == "cost"
    assert ax.get_xlabel() == "parameters"
    assert len(ax.patches) == 3


@pytest.mark.parametrize("value, text", [(0, "0"), (999, "999"), (1000, "1.0k"), (15_200, "15k"),
                                          (225_000_000, "225M"), (2.5e9, "2.5G"), (0.25, "0.25")])
def test_short_number(value, text):
    assert short_number(value) == text


def test_refuses_what_it_cannot_draw():
    with pytest.raises(ValueError, match="positive"):
        plot_costs(pd.DataFrame({"a": [1, 0]}))
    with pytest.raises(ValueError, match="empty"):
        plot_costs(pd.DataFrame())
    with pytest.raises(TypeError, match="numeric"):
        plot_costs(pd.DataFrame({"a": ["x", "y"]}))
    assert len(plot_costs(pd.DataFrame({"a": [1, 0]}), log=False).axes[0].patches) == 2
    assert np.isfinite(plot_costs({"a": [3]}).axes[0].get_xlim()).all()
