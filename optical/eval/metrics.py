r"""Score a run against qrels: per-query values and their means, exactly as ``trec_eval -c``.

Which ranking is scored
    ``trec_eval`` ignores the rank column of a run: it orders each query's documents by score,
    highest first, and breaks ties by document id in *decreasing* string order.  :func:`rank_run`
    does the same, so a run with tied scores gets the values ``trec_eval``, ``pytrec_eval`` and
    ``ir_measures`` give it.

Which queries count
    The query set is the set of queries in the qrels (``trec_eval -c``, ``ir_measures``).  A query
    judged but absent from the run scores 0 on every measure; a query judged with no relevant
    document scores 0 too.  A query in the run but not in the qrels cannot be scored: it is left
    out and counted (:attr:`Evaluation.unjudged_run_queries`, with one :class:`EvaluationWarning`).

The aggregate of a measure is the arithmetic mean of its per-query values,
:math:`\bar m = \frac{1}{|Q|}\sum_{q \in Q} m(q)` (so AP averages to MAP).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from optical.eval.measures import Measure, parse_measures

__all__ = ["Evaluation", "EvaluationWarning", "check_run", "evaluate", "rank_run"]

RunLike = Mapping[str, Iterable[tuple[str, float]] | Mapping[str, float]]
QrelsLike = Mapping[str, Mapping[str, int]]


class EvaluationWarning(UserWarning):
    """Input that ``trec_eval`` would also accept, but that the caller should know about."""


def rank_run(scored: Iterable[tuple[str, float]] | Mapping[str, float]) -> list[str]:
    """Document ids of one query in ``trec_eval`` order: score descending, then docid descending.

    Raises
    ------
    ValueError
        When a document id appears twice.
    """
    pairs = list(scored.items()) if isinstance(scored, Mapping) else list(scored)
    docids = [docid for docid, _ in pairs]
    if len(set(docids)) != len(docids):
        seen: set[str] = set()
        repeated = next(d for d in docids if d in seen or seen.add(d))
        raise ValueError(f"document {repeated!r} appears twice in one query's ranking")
    # Two stable sorts: docid descending, then score descending.
    pairs.sort(key=lambda pair: pair[0], reverse=True)
    pairs.sort(key=lambda pair: float(pair[1]), reverse=True)
    return [docid for docid, _ in pairs]


def check_run(
    run: RunLike,
    *,
    query_ids: Iterable[str] | None = None,
    document_ids: Iterable[str] | None = None,
) -> None:
    """Raise ``ValueError`` when a run names a query or document unknown to the collection.

    Parameters
    ----------
    run
        ``{qid: [(docid, score), ...]}`` or ``{qid: {docid: score}}``.
    query_ids, document_ids
        The collection's ids; ``None`` skips that check.
    """
    if query_ids is not None:
        known = set(query_ids)
        unknown = sorted(qid for qid in run if qid not in known)
        if unknown:
            raise ValueError(f"the run names {len(unknown)} query id(s) not in the collection, e.g. {unknown[:5]}")
    if document_ids is not None:
        known_docs = set(document_ids)
        unknown_docs: set[str] = set()
        for scored in run.values():
            docids = scored.keys() if isinstance(scored, Mapping) else (d for d, _ in scored)
            unknown_docs.update(d for d in docids if d not in known_docs)
        if unknown_docs:
            raise ValueError(
                f"the run names {len(unknown_docs)} document id(s) not in the collection, "
                f"e.g. {sorted(unknown_docs)[:5]}"
            )


@dataclass
class Evaluation:
    """Per-query values and aggregates of a set of measures on one run.

    Attributes
    ----------
    measures
        The measures, in the order asked.
    per_query
        ``{measure name: {qid: value}}`` over every query of the qrels (sorted ids).
    aggregates
        ``{measure name: mean over per_query}``.
    missing_queries
        Judged queries absent from the run (each scored 0).
    unjudged_run_queries
        Run queries absent from the qrels (left out).
    """

    measures: tuple[Measure, ...]
    per_query: dict[str, dict[str, float]]
    aggregates: dict[str, float]
    missing_queries: tuple[str, ...] = ()
    unjudged_run_queries: tuple[str, ...] = ()
    query_ids: tuple[str, ...] = field(default=())

    def values(self, measure: str | Measure) -> np.ndarray:
        """The per-query values of ``measure`` in :attr:`query_ids` order."""
        by_query = self.per_query[str(measure)]
        return np.array([by_query[qid] for qid in self.query_ids], dtype=np.float64)

    def as_dict(self) -> dict:
        """JSON-ready: aggregates, per-query values and the counts of ignored or missing queries."""
        return {
            "queries": len(self.query_ids),
            "aggregates": dict(self.aggregates),
            "per_query": {name: dict(values) for name, values in self.per_query.items()},
            "missing_queries": list(self.missing_queries),
            "unjudged_run_queries": list(self.unjudged_run_queries),
        }


def evaluate(
    qrels: QrelsLike,
    run: RunLike,
    measures: Sequence[str | Measure] | str,
    *,
    warn: bool = True,
) -> Evaluation:
    """Score ``run`` against ``qrels`` on ``measures`` with ``trec_eval -c`` semantics.

    Parameters
    ----------
    qrels
        ``{qid: {docid: grade}}``.
    run
        ``{qid: [(docid, score), ...]}`` or ``{qid: {docid: score}}``; each query's documents are
        ordered by :func:`rank_run` (list order and rank columns are ignored, as in ``trec_eval``).
    measures
        ``ir_measures`` names (``"AP"``, ``"nDCG@10"``) or :class:`Measure` objects.
    warn
        Emit an :class:`EvaluationWarning` counting run queries absent from the qrels and judged
        queries absent from the run.

    Raises
    ------
    ValueError
        On empty qrels, an unknown measure, or a document listed twice for one query.
    """
    parsed = parse_measures(measures if isinstance(measures, str) else list(measures))
    query_ids = tuple(sorted(qrels))
    if not query_ids:
        raise ValueError("the qrels hold no query: nothing to evaluate")
    missing = tuple(qid for qid in query_ids if qid not in run)
    unjudged = tuple(sorted(qid for qid in run if qid not in qrels))
    if warn and unjudged:
        warnings.warn(
            f"{len(unjudged)} run query(ies) have no judgments and are ignored, e.g. {list(unjudged[:5])}",
            EvaluationWarning,
            stacklevel=2,
        )
    if warn and missing:
        warnings.warn(
            f"{len(missing)} of {len(query_ids)} judged query(ies) are missing from the run and score 0, "
            f"e.g. {list(missing[:5])}",
            EvaluationWarning,
            stacklevel=2,
        )
    per_query: dict[str, dict[str, float]] = {str(m): {} for m in parsed}
    for qid in query_ids:
        judged_map = qrels[qid]
        ranking = rank_run(run.get(qid, ()))
        ranked = np.array([judged_map.get(docid, 0) for docid in ranking], dtype=np.int64)
        judged = np.fromiter(judged_map.values(), dtype=np.int64, count=len(judged_map))
        for measure in parsed:
            per_query[str(measure)][qid] = measure(ranked, judged)
    aggregates = {name: float(np.mean(list(values.values()))) for name, values in per_query.items()}
    return Evaluation(parsed, per_query, aggregates, missing, unjudged, query_ids)
