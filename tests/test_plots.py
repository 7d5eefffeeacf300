"""Report figures: what is drawn on the axes, and the PNG files written."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from optical.plots import (
    alignment_figsize,
    alignment_pairs,
    draw_alignment,
    draw_learning_curve,
    draw_map_bars,
    plot_alignment,
    plot_learning_curve,
    plot_map_bars,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _axes():
    from matplotlib.figure import Figure

    figure = Figure()
    return figure, figure.add_subplot()


def _read_png(path):
    from matplotlib.image import imread

    assert path.read_bytes()[:8] == PNG_SIGNATURE
    return imread(path)


def _labels(ticks) -> list[str]:
    return [tick.get_text() for tick in ticks]


# --- alignment_pairs -------------------------------------------------------------------------


def test_alignment_pairs_take_the_argmax_target_of_every_source_row() -> None:
    plan = np.random.default_rng(0).random((4, 7))
    source, target = [f"s{i}" for i in range(4)], [f"t{j}" for j in range(7)]
    pairs = alignment_pairs(plan, source, target)
    assert [p[0] for p in pairs] == source
    assert [p[1] for p in pairs] == [target[j] for j in plan.argmax(1)]
    assert [p[2] for p in pairs] == pytest.approx(plan.max(1))


def test_alignment_pairs_top_k_in_decreasing_mass_and_ties_to_the_left() -> None:
    plan = np.array([[0.1, 0.3, 0.2, 0.3], [0.5, 0.0, 0.0, 0.0]])
    pairs = alignment_pairs(plan, ["a", "b"], ["w", "x", "y", "z"], top=3)
    assert pairs == [("a", "x", 0.3), ("a", "z", 0.3), ("a", "y", 0.2), ("b", "w", 0.5), ("b", "x", 0.0),
                     ("b", "y", 0.0)]


def test_alignment_pairs_read_a_torch_plan_and_check_shapes() -> None:
    plan = torch.tensor([[0.0, 0.2], [0.3, 0.1], [0.1, 0.0]], requires_grad=True)
    assert alignment_pairs(plan, ["a", "b", "c"], ["x", "y"]) == [("a", "y", pytest.approx(0.2)),
                                                                 ("b", "x", pytest.approx(0.3)),
                                                                 ("c", "x", pytest.approx(0.1))]
    with pytest.raises(ValueError, match="rows are source tokens"):
        alignment_pairs(plan, ["x", "y"], ["a", "b", "c"])
    with pytest.raises(ValueError, match="top"):
        alignment_pairs(plan, ["a", "b", "c"], ["x", "y"], top=0)


# --- alignment heat map ----------------------------------------------------------------------


def test_draw_alignment_puts_source_tokens_on_rows_and_target_tokens_on_columns() -> None:
    plan = np.arange(10, dtype=float).reshape(2, 5) / 45
    figure, ax = _axes()
    draw_alignment(ax, plan, ["the", "house"], ["q", ":", "ile", "nyu", "##mba"], title="my plan")
    assert _labels(ax.get_yticklabels()) == ["the", "house"]
    assert _labels(ax.get_xticklabels()) == ["q", ":", "ile", "nyu", "##mba"]
    assert np.array_equal(np.asarray(ax.images[0].get_array()), plan)
    assert ax.get_title() == "my plan"
    assert len(figure.axes) == 2  # the heat map and its colour bar
    with pytest.raises(ValueError, match="shape"):
        draw_alignment(ax, plan.T, ["the", "house"], ["q", ":", "ile", "nyu", "##mba"])


@pytest.mark.parametrize(("rows", "columns"), [(3, 9), (9, 3)])
def test_plot_alignment_writes_a_png_of_the_plan_shape(tmp_path, rows, columns) -> None:
    plan = torch.full((rows, columns), 1.0 / (rows * columns))
    out = plot_alignment(plan, [f"s{i}" for i in range(rows)], [f"t{j}" for j in range(columns)],
                         tmp_path / "sub" / "plan.png")
    assert out == tmp_path / "sub" / "plan.png"
    image = _read_png(out)
    width, height = alignment_figsize(rows, columns)
    assert image.shape == (round(height * 100), round(width * 100), 4)
    assert (image.shape[1] > image.shape[0]) == (columns > rows)


# --- MAP bars --------------------------------------------------------------------------------


def test_draw_map_bars_groups_languages_with_macro_last_and_one_bar_set_per_system() -> None:
    table = {"bm25": {"macro": 0.2, "sw": 0.25, "so": 0.15}, "ot": {"sw": 0.4, "fi": 0.3, "macro": 0.35}}
    _, ax = _axes()
    draw_map_bars(ax, table, title="MAP")
    assert _labels(ax.get_xticklabels()) == ["sw", "so", "fi", "macro"]
    assert len(ax.containers) == 2
    heights = [[bar.get_height() for bar in container] for container in ax.containers]
    assert heights[0][:2] == [0.25, 0.15] and np.isnan(heights[0][2]) and heights[0][3] == 0.2
    assert np.isnan(heights[1][1]) and [heights[1][i] for i in (0, 2, 3)] == [0.4, 0.3, 0.35]
    # the system's bars sit inside their language's group, in table order
    centres = [[bar.get_x() + bar.get_width() / 2 for bar in container] for container in ax.containers]
    for group in range(4):
        assert group - 0.4 < centres[0][group] < centres[1][group] < group + 0.4
    assert _labels(ax.get_legend().get_texts()) == ["bm25", "ot"]
    with pytest.raises(ValueError, match="empty"):
        draw_map_bars(ax, {})


def test_plot_map_bars_writes_a_png_of_the_asked_size(tmp_path) -> None:
    out = plot_map_bars({"a": {"sw": 0.1, "macro": 0.1}}, tmp_path / "map.png", figsize=(6.0, 3.0))
    assert _read_png(out).shape == (300, 600, 4)


# --- learning curves -------------------------------------------------------------------------


def test_draw_learning_curve_log_x_sorted_points_and_dashed_baselines() -> None:
    _, ax = _axes()
    curves = {"ot": [(1000, 0.2), (100, 0.1), (10000, 0.3)], "mse": [(100, 0.05), (10000, 0.2)]}
    draw_learning_curve(ax, curves, baselines={"bm25": 0.18}, xlabel="pairs", ylabel="nDCG@10")
    assert ax.get_xscale() == "log"
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("pairs", "nDCG@10")
    ot, mse, bm25 = ax.get_lines()
    assert list(ot.get_xdata()) == [100, 1000, 10000] and list(ot.get_ydata()) == [0.1, 0.2, 0.3]
    assert ot.get_marker() == "o" and ot.get_linestyle() == "-"
    assert list(mse.get_ydata()) == [0.05, 0.2]
    assert list(bm25.get_ydata()) == [0.18, 0.18] and bm25.get_linestyle() == "--"
    assert _labels(ax.get_legend().get_texts()) == ["ot", "mse", "bm25"]
    with pytest.raises(ValueError, match="> 0"):
        draw_learning_curve(ax, {"bad": [(0, 0.1), (10, 0.2)]})


def test_draw_learning_curve_linear_x_takes_a_zero_step() -> None:
    _, ax = _axes()
    draw_learning_curve(ax, {"nce": [(0, 0.03), (300, 0.1)]}, xlabel="step", xscale="linear")
    assert ax.get_xscale() == "linear"
    assert list(ax.get_lines()[0].get_xdata()) == [0, 300]


def test_plot_learning_curve_writes_a_png(tmp_path) -> None:
    out = plot_learning_curve({"ot": [(10, 0.1), (100, 0.2)]}, tmp_path / "curve.png", figsize=(5.0, 4.0))
    assert _read_png(out).shape == (400, 500, 4)


# --- without matplotlib ----------------------------------------------------------------------


def test_missing_matplotlib_names_the_extra(monkeypatch, tmp_path) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r"pip install 'optical\[plots\]'"):
        plot_alignment([[1.0]], ["a"], ["b"], tmp_path / "plan.png")
    assert not (tmp_path / "plan.png").exists()
    assert alignment_pairs([[1.0]], ["a"], ["b"]) == [("a", "b", 1.0)]  # numpy only
