"""Figures for reports: MAP per language, learning curves, and token alignments (transport plans).

matplotlib is an optional extra (``pip install 'optical[plots]'``), imported only when a figure
is drawn. Figures are built with matplotlib's object API on the Agg canvas, never through
``pyplot``, so drawing here neither needs a display nor changes the backend of a notebook that
imports this module.

Each ``plot_*`` function writes one PNG and returns its path; the ``draw_*`` function behind it
draws on a given ``Axes`` (to compose figures, or to inspect what was drawn).
:func:`alignment_pairs` reads the strongest alignments off a plan and needs numpy only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "INSTALL_COMMAND",
    "alignment_pairs",
    "draw_alignment",
    "draw_learning_curve",
    "draw_map_bars",
    "plot_alignment",
    "plot_learning_curve",
    "plot_map_bars",
    "require_matplotlib",
]

INSTALL_COMMAND = "pip install 'optical[plots]'"
MACRO = "macro"
DPI = 100


def require_matplotlib() -> Any:
    """Import and return matplotlib, or raise ``ImportError`` naming the install command."""
    try:
        import matplotlib
    except ImportError as error:
        raise ImportError(f"plots need matplotlib, an optional extra: {INSTALL_COMMAND}") from error
    return matplotlib


def _figure(figsize: tuple[float, float]) -> Figure:
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=figsize, dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _save(figure: Figure, out: str | Path) -> Path:
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png", dpi=DPI)
    return path


def _as_array(plan: Any) -> np.ndarray:
    """A 2-D float numpy array from a numpy array or a (CPU or GPU, possibly grad) torch tensor."""
    if hasattr(plan, "detach"):
        plan = plan.detach().cpu().double().numpy()
    array = np.asarray(plan, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"plan must be 2-D [source tokens, target tokens], got shape {array.shape}")
    return array


def _check_tokens(plan: np.ndarray, source_tokens: Sequence[str], target_tokens: Sequence[str]) -> None:
    if plan.shape != (len(source_tokens), len(target_tokens)):
        raise ValueError(f"plan has shape {plan.shape} but there are {len(source_tokens)} source and "
                         f"{len(target_tokens)} target tokens (rows are source tokens)")


# --- MAP per language -------------------------------------------------------------------------


def _groups(table: Mapping[str, Mapping[str, float]]) -> list[str]:
    """Languages in order of first appearance, ``macro`` last."""
    seen: dict[str, None] = {}
    for values in table.values():
        seen.update(dict.fromkeys(values))
    languages = [lang for lang in seen if lang != MACRO]
    return languages + [MACRO] if MACRO in seen else languages


def draw_map_bars(ax: Axes, table: Mapping[str, Mapping[str, float]], title: str = "MAP per language",
                  ylabel: str = "MAP") -> Axes:
    """Grouped bars on ``ax``: one group per language (``macro`` last), one bar per system.

    A language a system lacks is left as a gap. Returns ``ax``.
    """
    if not table:
        raise ValueError("table is empty: give {system: {lang: value}}")
    groups = _groups(table)
    if not groups:
        raise ValueError("table has no language values")
    centres = np.arange(len(groups), dtype=float)
    width = 0.8 / len(table)
    for k, (system, values) in enumerate(table.items()):
        heights = [float(values.get(lang, np.nan)) for lang in groups]
        ax.bar(centres - 0.4 + width * (k + 0.5), heights, width, label=system)
    ax.set_xticks(centres, groups)
    if MACRO in groups:
        ax.axvline(len(groups) - 1.5, color="grey", linewidth=0.8, linestyle=":")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.grid(axis="y", alpha=0.3)
    return ax


def plot_map_bars(table: Mapping[str, Mapping[str, float]], out: str | Path, title: str = "MAP per language",
                  *, ylabel: str = "MAP", figsize: tuple[float, float] | None = None) -> Path:
    """Write a grouped bar chart of MAP per language (groups) and system (bars) as PNG.

    Parameters
    ----------
    table : {system: {lang: value}}
        A ``"macro"`` key per system is drawn as its own group, last.
    out : path
        The PNG to write (parent folders are created).
    figsize : (width, height) in inches, optional
        Default: wide enough for the groups.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> table = {"bm25": {"sw": 0.21, "so": 0.18, "macro": 0.195}, "ot": {"sw": 0.33, "so": 0.29, "macro": 0.31}}
    >>> plot_map_bars(table, folder / "map.png").name
    'map.png'
    """
    groups = len(_groups(table)) if table else 0
    figure = _figure(figsize or (max(5.0, 1.0 + 0.45 * groups * max(1, len(table))), 4.0))
    draw_map_bars(figure.add_subplot(), table, title, ylabel)
    return _save(figure, out)


# --- learning curves --------------------------------------------------------------------------


def draw_learning_curve(ax: Axes, curves: Mapping[str, Sequence[tuple[int, float]]], xlabel: str = "bitext pairs",
                        ylabel: str = "MAP", baselines: Mapping[str, float] | None = None,
                        title: str = "", xscale: str = "log") -> Axes:
    """One line with markers per curve on a log (or ``xscale``) x axis, baselines as horizontal dashed lines."""
    if not curves:
        raise ValueError("curves is empty: give {name: [(x, y), ...]}")
    for name, points in curves.items():
        if not points:
            raise ValueError(f"curve {name!r} has no points")
        xs, ys = zip(*sorted(points), strict=True)
        if xscale == "log" and min(xs) <= 0:
            raise ValueError(f"curve {name!r}: x values must be > 0 on a log axis, got {min(xs)}")
        ax.plot(xs, ys, marker="o", label=name)
    for k, (name, value) in enumerate((baselines or {}).items()):
        ax.axhline(float(value), linestyle="--", linewidth=1.2, color=f"C{len(curves) + k}", label=name)
    ax.set_xscale(xscale)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3, which="both")
    return ax


def plot_learning_curve(curves: Mapping[str, Sequence[tuple[int, float]]], out: str | Path,
                        xlabel: str = "bitext pairs", ylabel: str = "MAP",
                        baselines: Mapping[str, float] | None = None, *, title: str = "",
                        figsize: tuple[float, float] = (6.0, 4.0)) -> Path:
    """Write learning curves (``{name: [(x, y), ...]}``, x > 0, log scale) as PNG.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "curve.png"
    >>> curves = {"ot": [(100, 0.12), (1000, 0.2), (10000, 0.27)], "mse": [(100, 0.1), (10000, 0.22)]}
    >>> plot_learning_curve(curves, out, baselines={"bm25": 0.18}) == out
    True
    """
    figure = _figure(figsize)
    draw_learning_curve(figure.add_subplot(), curves, xlabel, ylabel, baselines, title)
    return _save(figure, out)


# --- training curves -------------------------------------------------------------------------

LOSS_KEYS = ("loss", "ot", "nce", "mse", "cos", "token_mse", "ot_nce", "maxsim_nce")


def plot_training_curves(history: Sequence[Mapping[str, float]], evaluations: Sequence[Mapping[str, float]],
                         out: str | Path, *, title: str = "Training") -> Path:
    """Write each loss term per step (left) and each dev number per evaluation (right) as PNG.

    ``history`` is the loop's per-step log (``train.jsonl``), ``evaluations`` its evaluations
    (``eval.jsonl``); keys absent from a run are left out.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "training.png"
    >>> history = [{"step": s, "loss": 1 / s, "ot": 0.2, "nce": 1 / s - 0.2} for s in range(1, 11)]
    >>> plot_training_curves(history, [{"step": 0, "bitext_p@1": 0.5}, {"step": 10, "bitext_p@1": 0.7}], out) == out
    True
    """
    if not history:
        raise ValueError("history is empty: nothing was trained")
    figure = _figure((11.0, 4.0))
    losses, dev = figure.subplots(1, 2)
    steps = [h["step"] for h in history]
    for key in LOSS_KEYS:
        values = [(s, h[key]) for s, h in zip(steps, history, strict=True) if key in h]
        if values:
            xs, ys = zip(*values, strict=True)
            losses.plot(xs, ys, label=key, linewidth=1.2 if key != "loss" else 2.0)
    losses.set_xlabel("step")
    losses.set_ylabel("loss term")
    losses.set_title(f"{title}: losses")
    losses.legend(fontsize="small")
    losses.grid(alpha=0.3)
    keys = [k for k in dict.fromkeys(k for e in evaluations for k in e) if k != "step"]
    for key in keys:
        values = [(e["step"], e[key]) for e in evaluations if key in e]
        xs, ys = zip(*values, strict=True)
        dev.plot(xs, ys, marker="o", label=key)
    dev.set_xlabel("step")
    dev.set_title(f"{title}: dev checks")
    if keys:
        dev.legend(fontsize="small")
    dev.grid(alpha=0.3)
    return _save(figure, out)


# --- token alignments -------------------------------------------------------------------------


def alignment_pairs(plan: Any, source_tokens: Sequence[str], target_tokens: Sequence[str],
                    top: int = 1) -> list[tuple[str, str, float]]:
    """The ``top`` heaviest target tokens of each source row: ``(source, target, mass)``, row by row.

    Within a row the heaviest comes first; ties go to the leftmost target token.

    Examples
    --------
    >>> plan = [[0.1, 0.4], [0.3, 0.2]]
    >>> alignment_pairs(plan, ["the", "house"], ["nyumba", "ile"])
    [('the', 'ile', 0.4), ('house', 'nyumba', 0.3)]
    """
    array = _as_array(plan)
    _check_tokens(array, source_tokens, target_tokens)
    if top < 1:
        raise ValueError(f"top must be >= 1, got {top}")
    order = np.argsort(-array, axis=1, kind="stable")[:, :top]
    return [(source_tokens[i], target_tokens[j], float(array[i, j])) for i in range(array.shape[0]) for j in order[i]]


def alignment_figsize(rows: int, columns: int) -> tuple[float, float]:
    """Inches for a plan of ``rows`` x ``columns`` tokens: square cells plus room for labels."""
    cell = 0.32
    return 2.6 + cell * columns, 1.8 + cell * rows


def draw_alignment(ax: Axes, plan: Any, source_tokens: Sequence[str], target_tokens: Sequence[str],
                   title: str = "Transport plan", colorbar: bool = True) -> Axes:
    """Heat map of ``plan`` on ``ax``: rows are source tokens (y axis), columns target tokens (x axis)."""
    array = _as_array(plan)
    _check_tokens(array, source_tokens, target_tokens)
    image = ax.imshow(array, cmap="viridis", aspect="equal", interpolation="nearest")
    ax.set_yticks(np.arange(len(source_tokens)), list(source_tokens))
    ax.set_xticks(np.arange(len(target_tokens)), list(target_tokens), rotation=90)
    ax.tick_params(top=True, labeltop=True, bottom=False, labelbottom=False)
    ax.set_xlabel("target (student) tokens")
    ax.xaxis.set_label_position("top")
    ax.set_ylabel("source (teacher) tokens")
    ax.set_title(title)
    if colorbar:
        ax.figure.colorbar(image, ax=ax, label="transport mass", shrink=0.8)
    return ax


def plot_alignment(plan: Any, source_tokens: Sequence[str], target_tokens: Sequence[str], out: str | Path,
                   title: str = "Transport plan") -> Path:
    """Write the heat map of a transport plan, tokens on the axes and a colour bar, as PNG.

    Parameters
    ----------
    plan : array or Tensor [n, m]
        Rows are the source (English, teacher) tokens, columns the target (foreign, student) ones.
    source_tokens, target_tokens : list of str
        ``n`` and ``m`` labels.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "plan.png"
    >>> plot_alignment([[0.5, 0.0], [0.0, 0.5]], ["the", "house"], ["ile", "nyumba"], out).exists()
    True
    """
    array = _as_array(plan)
    figure = _figure(alignment_figsize(*array.shape))
    draw_alignment(figure.add_subplot(), array, source_tokens, target_tokens, title)
    return _save(figure, out)
