r"""Retrieval measures with ``trec_eval`` semantics, named as in ``ir_measures``.

A measure is a small declarative definition (:data:`MEASURES`): a name, the parameters it takes
and a function of one query's ranked grades.  :func:`parse_measure` reads ``ir_measures`` names
(``AP``, ``nDCG@10``, ``RR@10``, ``R@100``, ``P(rel=2)@5``; aliases ``MAP``, ``MRR@10``,
``Recall@100``, ``NDCG@10``) into a :class:`Measure`, whose ``str`` is the canonical name.

Conventions (those of ``trec_eval`` and ``ir_measures``; see :mod:`optical.eval.metrics` for how a
run is ordered and which queries count):

- :math:`g_i` is the relevance grade of the document at rank :math:`i` (0 if unjudged), and
  :math:`J` the judged grades of the query.  A document is *relevant* when its grade is at least
  ``rel`` (default 1); :math:`R = |\{g \in J : g \ge \mathrm{rel}\}|`.
- Cutoff :math:`k` (``@k``) keeps the top :math:`k` ranks; without one the whole ranking counts.
- A query with :math:`R = 0` (or no positive grade, for nDCG) scores 0 on every measure.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = [
    "MEASURES",
    "Measure",
    "MeasureDefinition",
    "average_precision",
    "ndcg",
    "parse_measure",
    "parse_measures",
    "precision",
    "recall",
    "reciprocal_rank",
    "success",
]


def _relevant(ranked: np.ndarray, cutoff: int | None, rel: int) -> np.ndarray:
    top = ranked if cutoff is None else ranked[:cutoff]
    return (top >= rel).astype(np.float64)


def average_precision(ranked: np.ndarray, judged: np.ndarray, cutoff: int | None, rel: int) -> float:
    r"""AP: :math:`\frac{1}{R}\sum_{i \le k,\ g_i \ge rel} \frac{|\{j \le i : g_j \ge rel\}|}{i}`.

    Relevant documents never retrieved (or below the cutoff) add 0; ``AP@k`` is ``trec_eval``'s
    ``map_cut.k`` (still divided by all :math:`R`).
    """
    total = int(np.count_nonzero(judged >= rel))
    if total == 0:
        return 0.0
    relevant = _relevant(ranked, cutoff, rel)
    hits = np.cumsum(relevant)
    ranks = np.arange(1, relevant.size + 1, dtype=np.float64)
    return float(np.sum(relevant * hits / ranks) / total)


def ndcg(ranked: np.ndarray, judged: np.ndarray, cutoff: int | None, rel: int) -> float:
    r"""nDCG with gain = grade (``trec_eval``'s ``ndcg`` / ``ndcg_cut.k``).

    :math:`\mathrm{DCG@k} = \sum_{i \le k,\ g_i > 0} g_i / \log_2(i + 1)`, divided by the DCG of
    the judged grades sorted in decreasing order (the ideal ranking, also cut at :math:`k`).
    Grades, not the ``rel`` threshold, decide the gain; negative grades gain nothing.
    """
    del rel  # graded: every positive grade counts with its own gain
    gains = np.clip(ranked if cutoff is None else ranked[:cutoff], 0, None).astype(np.float64)
    ideal = np.sort(judged[judged > 0])[::-1].astype(np.float64)
    if cutoff is not None:
        ideal = ideal[:cutoff]
    if ideal.size == 0:
        return 0.0
    dcg = float(np.sum(gains / np.log2(np.arange(2, gains.size + 2))))
    ideal_dcg = float(np.sum(ideal / np.log2(np.arange(2, ideal.size + 2))))
    return dcg / ideal_dcg


def reciprocal_rank(ranked: np.ndarray, judged: np.ndarray, cutoff: int | None, rel: int) -> float:
    r"""RR: :math:`1 / \min\{i \le k : g_i \ge rel\}`, 0 when no relevant document is in the top :math:`k`."""
    del judged
    hits = np.flatnonzero(_relevant(ranked, cutoff, rel))
    return 1.0 / float(hits[0] + 1) if hits.size else 0.0


def precision(ranked: np.ndarray, judged: np.ndarray, cutoff: int | None, rel: int) -> float:
    r"""P@k: :math:`|\{i \le k : g_i \ge rel\}| / k` (divided by :math:`k` even when fewer were retrieved)."""
    del judged
    assert cutoff is not None
    return float(np.sum(_relevant(ranked, cutoff, rel)) / cutoff)


def recall(ranked: np.ndarray, judged: np.ndarray, cutoff: int | None, rel: int) -> float:
    r"""R@k: :math:`|\{i \le k : g_i \ge rel\}| / R`."""
    total = int(np.count_nonzero(judged >= rel))
    if total == 0:
        return 0.0
    return float(np.sum(_relevant(ranked, cutoff, rel)) / total)


def success(ranked: np.ndarray, judged: np.ndarray, cutoff: int | None, rel: int) -> float:
    r"""Success@k: 1 if some :math:`g_i \ge rel` with :math:`i \le k`, else 0."""
    del judged
    return 1.0 if np.any(_relevant(ranked, cutoff, rel)) else 0.0


MeasureFunction = Callable[[np.ndarray, np.ndarray, "int | None", int], float]


@dataclass(frozen=True)
class MeasureDefinition:
    """What a measure is: its ``ir_measures`` name, aliases, parameters and per-query function."""

    name: str
    function: MeasureFunction
    description: str
    aliases: tuple[str, ...] = ()
    cutoff_required: bool = False
    takes_rel: bool = True


MEASURES: dict[str, MeasureDefinition] = {
    d.name: d
    for d in (
        MeasureDefinition("AP", average_precision, "average precision (MAP when averaged)", aliases=("MAP",)),
        MeasureDefinition("nDCG", ndcg, "normalised DCG, gain = relevance grade", aliases=("NDCG",),
                          takes_rel=False),
        MeasureDefinition("RR", reciprocal_rank, "reciprocal rank of the first relevant document",
                          aliases=("MRR",)),
        MeasureDefinition("P", precision, "precision at k", aliases=("Precision",), cutoff_required=True),
        MeasureDefinition("R", recall, "recall at k", aliases=("Recall",), cutoff_required=True),
        MeasureDefinition("Success", success, "1 if a relevant document is in the top k", cutoff_required=True),
    )
}
_BY_NAME = {alias.lower(): d for d in MEASURES.values() for alias in (d.name, *d.aliases)}
_SYNTAX = re.compile(r"^(?P<name>[A-Za-z]+)(?:\((?P<params>[^()]*)\))?(?:@(?P<cutoff>[0-9]+))?$")


@dataclass(frozen=True)
class Measure:
    """One measure with its parameters, e.g. ``Measure("nDCG", cutoff=10)``; ``str`` gives ``nDCG@10``.

    Attributes
    ----------
    name
        A key of :data:`MEASURES`.
    cutoff
        Rank cutoff :math:`k`, or ``None`` for the whole ranking.
    rel
        Minimum grade of a relevant document (ignored by graded nDCG, which rejects it).
    """

    name: str
    cutoff: int | None = None
    rel: int = 1

    def __post_init__(self) -> None:
        definition = MEASURES.get(self.name)
        if definition is None:
            raise ValueError(f"unknown measure {self.name!r}; known: {', '.join(MEASURES)}")
        if self.cutoff is not None and self.cutoff < 1:
            raise ValueError(f"{self.name}: cutoff must be >= 1, got {self.cutoff}")
        if definition.cutoff_required and self.cutoff is None:
            raise ValueError(f"{self.name} needs a cutoff, e.g. {self.name}@10")
        if not definition.takes_rel and self.rel != 1:
            raise ValueError(f"{self.name} is graded (gain = relevance grade) and takes no rel parameter")

    @property
    def definition(self) -> MeasureDefinition:
        return MEASURES[self.name]

    def __call__(self, ranked: np.ndarray, judged: np.ndarray) -> float:
        """The value for one query: ``ranked`` grades in rank order, ``judged`` all judged grades."""
        return self.definition.function(ranked, judged, self.cutoff, self.rel)

    def __str__(self) -> str:
        params = f"(rel={self.rel})" if self.rel != 1 else ""
        cutoff = f"@{self.cutoff}" if self.cutoff is not None else ""
        return f"{self.name}{params}{cutoff}"


def parse_measure(text: str | Measure) -> Measure:
    """Read an ``ir_measures`` name: ``NAME[(rel=N)][@K]`` (case-insensitive name, aliases allowed).

    Raises
    ------
    ValueError
        On an unknown name or parameter, or a malformed string; the message lists the known names.
    """
    if isinstance(text, Measure):
        return text
    match = _SYNTAX.match(text.strip())
    known = ", ".join(f"{d.name}{'@k' if d.cutoff_required else ''}" for d in MEASURES.values())
    if match is None:
        raise ValueError(f"cannot read measure {text!r}: expected NAME, NAME@k or NAME(rel=N)@k ({known})")
    definition = _BY_NAME.get(match["name"].lower())
    if definition is None:
        raise ValueError(f"unknown measure {match['name']!r} in {text!r}; known: {known}")
    rel = 1
    for item in filter(None, (p.strip() for p in (match["params"] or "").split(","))):
        key, sep, value = item.partition("=")
        if key.strip() != "rel" or not sep or not re.fullmatch(r"[+-]?[0-9]+", value.strip()):
            raise ValueError(f"measure {text!r}: unknown parameter {item!r} (only rel=N is accepted)")
        rel = int(value)
    cutoff = int(match["cutoff"]) if match["cutoff"] is not None else None
    return Measure(definition.name, cutoff=cutoff, rel=rel)


def parse_measures(texts: str | list[str] | tuple[str, ...]) -> tuple[Measure, ...]:
    """Parse several names (a list, or one string separated by spaces or commas); duplicates are dropped."""
    if isinstance(texts, str):
        texts = [t for t in re.split(r"[\s,]+(?![^()]*\))", texts) if t]
    measures = tuple(dict.fromkeys(parse_measure(t) for t in texts))
    if not measures:
        raise ValueError("no measure given")
    return measures

