"""Hard negatives for training triplets, mined from a ranking (BM25 or a model's run).

A hard negative is a passage the ranker puts near the top for a query although it is not
relevant: for each (query, positive), :func:`mine_negatives` draws negatives from the ``depth``
best-ranked passages that are neither judged relevant nor in the query's ``exclude`` set (e.g.
passages linked to the query by a weaker cross-reference: likely false negatives). Where the
ranking has too few such passages (BM25 scores only passages sharing a term), the rest come
from ``pool`` uniformly, and :class:`MiningStats` counts them.

The ranking is a TREC run, so any retriever mines: ``optical.eval.bm25.BM25Index.search`` for
lexical negatives, or ``optical.eval.retrieval.dense_search`` with a model for model-mined ones.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, dataclass

from optical.data.trec import Run

__all__ = ["MiningStats", "mine_negatives"]


@dataclass
class MiningStats:
    """How the negatives of :func:`mine_negatives` were found."""

    queries: int = 0
    triplets: int = 0
    from_ranking: int = 0
    from_pool: int = 0
    mean_rank: float = 0.0  # mean rank (1-based) in the run of the ranking-mined negatives

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def mine_negatives(
    run: Run,
    positives: Mapping[str, Collection[str]],
    *,
    per_positive: int = 1,
    depth: int = 20,
    exclude: Mapping[str, Collection[str]] | None = None,
    pool: Sequence[str] = (),
    seed: int = 0,
) -> tuple[list[tuple[str, str, str]], MiningStats]:
    """Triplets ``(qid, positive, negative)`` with negatives drawn from the top of ``run``.

    Parameters
    ----------
    run
        ``{qid: [(docid, score), ...]}`` best first (as every reader and retriever returns it).
    positives
        ``{qid: relevant docids}``; one set of triplets per (query, positive), queries in this
        mapping's order.
    per_positive
        Negatives per (query, positive), distinct within the pair.
    depth
        Candidates are the first ``depth`` passages of the ranking that are neither positive
        nor excluded.
    exclude
        ``{qid: docids}`` never used as negatives (besides the positives).
    pool
        Where missing negatives come from when the ranking has fewer than ``per_positive``
        candidates (uniformly, excluded and positive passages left out).
    seed
        Seeds the draws (each query has its own generator, so the result does not depend on
        the other queries).

    Examples
    --------
    >>> run = {"q1": [("d1", 9.0), ("d2", 5.0), ("d3", 4.0), ("d4", 1.0)]}
    >>> triplets, stats = mine_negatives(run, {"q1": {"d1"}}, depth=2, exclude={"q1": {"d2"}})
    >>> triplets[0][:2], triplets[0][2] in {"d3", "d4"}, stats.from_pool
    (('q1', 'd1'), True, 0)
    """
    if per_positive < 1 or depth < 1:
        raise ValueError(f"per_positive and depth must be >= 1, got {per_positive} and {depth}")
    exclude = exclude or {}
    stats = MiningStats()
    triplets: list[tuple[str, str, str]] = []
    rank_sum = 0
    for qid, relevant in positives.items():
        if not relevant:
            continue
        stats.queries += 1
        banned = set(relevant) | set(exclude.get(qid, ()))
        ranked = [(rank, docid) for rank, (docid, _) in enumerate(run.get(qid, []), start=1) if docid not in banned]
        candidates = ranked[:depth]
        rng = random.Random(f"{seed}:{qid}")
        spare: list[str] | None = None
        # A set has no stable order across processes (hash seeds): sort it.
        ordered = sorted(relevant) if isinstance(relevant, (set, frozenset)) else list(relevant)
        for positive in ordered:
            chosen = rng.sample(candidates, min(per_positive, len(candidates)))
            negatives = [docid for _, docid in chosen]
            rank_sum += sum(rank for rank, _ in chosen)
            stats.from_ranking += len(chosen)
            if len(negatives) < per_positive:
                if spare is None:
                    taken = {docid for _, docid in candidates}
                    spare = [d for d in pool if d not in banned and d not in taken]
                extra = rng.sample(spare, min(per_positive - len(negatives), len(spare)))
                if len(negatives) + len(extra) < per_positive:
                    raise ValueError(f"query {qid!r}: only {len(negatives) + len(extra)} negatives available, "
                                     f"{per_positive} asked for (pass a larger pool)")
                negatives += extra
                stats.from_pool += len(extra)
            triplets.extend((qid, positive, negative) for negative in negatives)
    stats.triplets = len(triplets)
    stats.mean_rank = rank_sum / stats.from_ranking if stats.from_ranking else 0.0
    return triplets, stats
