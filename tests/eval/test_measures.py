"""Measure names in ir_measures style: parsing, canonical names, errors."""

from __future__ import annotations

import numpy as np
import pytest

from optical.eval.measures import MEASURES, Measure, parse_measure, parse_measures


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("AP", Measure("AP")),
        ("MAP", Measure("AP")),
        ("nDCG@10", Measure("nDCG", cutoff=10)),
        ("ndcg@20", Measure("nDCG", cutoff=20)),
        ("RR@10", Measure("RR", cutoff=10)),
        ("MRR@10", Measure("RR", cutoff=10)),
        ("R@100", Measure("R", cutoff=100)),
        ("Recall@1000", Measure("R", cutoff=1000)),
        ("P(rel=2)@5", Measure("P", cutoff=5, rel=2)),
        ("AP(rel=2)", Measure("AP", rel=2)),
        ("Success@1", Measure("Success", cutoff=1)),
    ],
)
def test_names_parse_to_measures(text, expected):
    assert parse_measure(text) == expected


@pytest.mark.parametrize("text", ["AP", "nDCG@10", "RR@10", "R@100", "P(rel=2)@5", "AP(rel=3)", "Success@5"])
def test_canonical_name_round_trips(text):
    assert str(parse_measure(text)) == text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("MAPX", "unknown measure 'MAPX'"),
        ("P", "P needs a cutoff"),
        ("R", "R needs a cutoff"),
        ("nDCG(rel=2)@10", "takes no rel parameter"),
        ("AP(judged=1)", "unknown parameter"),
        ("AP@0", "cutoff must be >= 1"),
        ("AP@@3", "cannot read measure"),
    ],
)
def test_bad_names_are_clear_errors(text, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_measure(text)


def test_several_names_in_one_string_and_duplicates_dropped():
    assert parse_measures("AP, nDCG@10 RR@10 MAP P(rel=2)@5") == (
        Measure("AP"), Measure("nDCG", 10), Measure("RR", 10), Measure("P", 5, 2)
    )
    with pytest.raises(ValueError, match="no measure"):
        parse_measures([])


def test_every_definition_scores_a_perfect_ranking_one():
    # One relevant document (grade 1) retrieved first: every measure at cutoff 1 is 1.
    ranked, judged = np.array([1, 0]), np.array([1, 0])
    for name in MEASURES:
        assert Measure(name, cutoff=1)(ranked, judged) == 1.0, name
