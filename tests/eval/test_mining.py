"""Hard-negative mining from a ranking: what may be a negative, how deep, and the pool top-up."""

from __future__ import annotations

import pytest

from optical.data.trec import read_trec_run
from optical.eval import mine_negatives

# d1 and d5 are relevant to q1, d2 is a weak cross-reference (excluded); q2 matched one passage only.
RUN = """q1 Q0 d1 1 9.0 bm25
q1 Q0 d2 2 8.0 bm25
q1 Q0 d3 3 7.0 bm25
q1 Q0 d5 4 6.0 bm25
q1 Q0 d4 5 5.0 bm25
q1 Q0 d6 6 4.0 bm25
q2 Q0 d3 1 2.0 bm25
"""


@pytest.fixture
def run(tmp_path):
    (tmp_path / "bm25.run").write_text(RUN)
    return read_trec_run(tmp_path / "bm25.run")


def test_negatives_come_from_the_top_non_relevant_non_excluded_passages(run) -> None:
    positives = {"q1": {"d1": 1, "d5": 1}}
    triplets, stats = mine_negatives(run, positives, per_positive=2, depth=2, exclude={"q1": {"d2"}})
    # Without d1, d5 (relevant) and d2 (excluded), the top two candidates are d3 (rank 3) and d4 (rank 5).
    assert sorted(triplets) == [("q1", "d1", "d3"), ("q1", "d1", "d4"), ("q1", "d5", "d3"), ("q1", "d5", "d4")]
    assert (stats.queries, stats.triplets, stats.from_ranking, stats.from_pool) == (1, 4, 4, 0)
    assert stats.mean_rank == pytest.approx(4.0)


def test_short_rankings_are_topped_up_from_the_pool_without_positives(run) -> None:
    pool = ["d1", "d2", "d3", "d4", "d9"]
    triplets, stats = mine_negatives(run, {"q2": ["d4"]}, per_positive=2, depth=5, pool=pool, seed=3)
    negatives = {t[2] for t in triplets}
    assert "d3" in negatives and len(negatives) == 2 and "d4" not in negatives
    assert (stats.from_ranking, stats.from_pool) == (1, 1)
    with pytest.raises(ValueError, match="q2"):
        mine_negatives(run, {"q2": ["d4"]}, per_positive=3, pool=["d3", "d4"])


def test_mining_is_deterministic_per_query_and_seeded() -> None:
    ranking = {"q": [(f"d{i}", float(-i)) for i in range(50)]}
    first, _ = mine_negatives(ranking, {"q": ["d0"]}, per_positive=3, depth=40, seed=1)
    with_other = {**ranking, "other": [(f"y{i}", 1.0) for i in range(5)]}
    again, _ = mine_negatives(with_other, {"other": ["x"], "q": ["d0"]}, per_positive=3, depth=40, seed=1)
    other_seed, _ = mine_negatives(ranking, {"q": ["d0"]}, per_positive=3, depth=40, seed=2)
    assert first == [t for t in again if t[0] == "q"]
    assert first != other_seed


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="depth"):
        mine_negatives({}, {"q": ["d"]}, depth=0)
