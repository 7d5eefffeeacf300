"""BM25 against its formula computed by hand, and against bm25s (Lucene variant) when installed."""

from __future__ import annotations

import math

import numpy as np
import pytest

from optical.eval.bm25 import BM25Index, tokenize

DOCS = {
    "d1": "The cat sat on the mat.",
    "d2": "A dog chased the cat; the cat ran!",
    "d3": "Birds fly south in winter",
    "d4": "Mbwa alimfukuza paka, paka alikimbia.",
}


def _formula(query: str, k1: float, b: float) -> dict[str, float]:
    """BM25 (Lucene) written out term by term."""
    tokenized = {d: tokenize(t) for d, t in DOCS.items()}
    n = len(tokenized)
    average = sum(len(t) for t in tokenized.values()) / n
    scores = {}
    for docid, tokens in tokenized.items():
        total = 0.0
        for term in tokenize(query):
            df = sum(term in t for t in tokenized.values())
            if df == 0:
                continue
            idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
            tf = tokens.count(term)
            total += idf * tf / (tf + k1 * (1 - b + b * len(tokens) / average))
        scores[docid] = total
    return scores


def test_tokenizer_lowercases_and_splits_on_punctuation_in_any_script():
    assert tokenize("Cat; the CAT's mat!") == ["cat", "the", "cat", "s", "mat"]
    assert tokenize("Habari, dunia — 世界") == ["habari", "dunia", "世界"]
    assert tokenize("Running", stemmer=lambda w: w[:3]) == ["run"]


@pytest.mark.parametrize(("k1", "b"), [(0.9, 0.4), (1.2, 0.75)])
@pytest.mark.parametrize("query", ["cat", "the cat cat", "paka", "winter birds", "unknownword"])
def test_scores_equal_the_formula(query, k1, b):
    index = BM25Index(list(DOCS), list(DOCS.values()), k1=k1, b=b)
    expected = _formula(query, k1, b)
    assert index.scores(query) == pytest.approx([expected[d] for d in DOCS], abs=1e-12)


def test_scores_equal_bm25s_lucene():
    bm25s = pytest.importorskip("bm25s", reason="bm25s (the test extra) is the second reference")
    reference = bm25s.BM25(k1=0.9, b=0.4, method="lucene", dtype="float64")
    reference.index([tokenize(t) for t in DOCS.values()], show_progress=False)
    index = BM25Index(list(DOCS), list(DOCS.values()))
    for query in ["cat", "the cat cat", "paka alimfukuza", "fly"]:
        assert np.allclose(index.scores(query), reference.get_scores(tokenize(query)), atol=1e-12)


def test_search_returns_matching_documents_in_trec_eval_order():
    index = BM25Index(["a", "c", "b"], ["x y", "x y", "z"])
    run = index.search({"q": "x", "none": "nothing"}, k=5)
    assert [d for d, _ in run["q"]] == ["c", "a"]  # tie: docid descending
    assert run["none"] == []


def test_bad_indexes_are_errors():
    with pytest.raises(ValueError, match="unique"):
        BM25Index(["a", "a"], ["x", "y"])
    with pytest.raises(ValueError, match="empty"):
        BM25Index([], [])
