"""Rank distance on a hand-built pooled ranking; alignment measures on hand-built vectors."""

from __future__ import annotations

import pytest
import torch

from optical.eval.bias import bitext_retrieval_accuracy, language_bias, mean_parallel_cosine, rank_distance

# Pooled ranking of query q1 over passages p, r (relevant: p) in en, sw, fr:
#   1 p@en   2 r@en   3 p@fr   4 r@sw   5 p@sw   6 r@fr
# p's versions sit at ranks 1, 3, 5: rank distance 5 - 1 = 4.
RANKING_Q1 = ["p@en", "r@en", "p@fr", "r@sw", "p@sw", "r@fr"]
# q2: both p and r relevant; p at 2, 3, 4 (spread 2), r at 1, 5, 6 (spread 5): mean 3.5.
RANKING_Q2 = ["r@sw", "p@sw", "p@en", "p@fr", "r@en", "r@fr"]


def _ranks(ranking: list[str]) -> dict[str, int]:
    return {docid: position + 1 for position, docid in enumerate(ranking)}


def test_rank_distance_by_hand():
    distances = rank_distance(
        {"q1": _ranks(RANKING_Q1), "q2": _ranks(RANKING_Q2)},
        {"q1": ["p"], "q2": ["p", "r"], "q3": []},
        ["en", "sw", "fr"],
    )
    assert distances == {"q1": 4.0, "q2": 3.5}


def test_language_bias_averages_per_language_then_over_languages():
    bias = language_bias({"sw": {"q1": 4.0, "q2": 3.5}, "fr": {"q1": 1.0}})
    assert bias == {"sw": 3.75, "fr": 1.0, "macro": pytest.approx(2.375)}


def test_rank_distance_needs_every_version():
    with pytest.raises(ValueError, match="no rank for"):
        rank_distance({"q1": {"p@en": 1}}, {"q1": ["p"]}, ["en", "sw"])


def test_alignment_by_hand():
    source = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    target = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 1.0]])
    # Cosines of the pairs: 1, 0, 1.
    assert mean_parallel_cosine(source, target) == pytest.approx(2 / 3)
    # Row 0: its own target ties with target 1 (both (1, 0)): a tie is a miss.  Row 1: target 2
    # (cos 0.71) beats its own (cos 0).  Row 2: its own target wins.
    assert bitext_retrieval_accuracy(source, target) == pytest.approx(1 / 3)
    # A distractor in the direction of target 2 ties with it for row 2: now every row misses.
    distractor = torch.tensor([[2.0, 2.0]])
    assert bitext_retrieval_accuracy(source, target, distractor) == 0.0
    with pytest.raises(ValueError, match="one shape"):
        mean_parallel_cosine(source, target[:2])
