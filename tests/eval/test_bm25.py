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


# What Lucene's analyzers emit (CJKAnalyzer for CJK: width folding, lowercasing, bigrams of
# adjacent CJK characters, a lone one as a unigram; StandardAnalyzer's word breaks elsewhere),
# stop words left out of the inputs since optical removes none.
LUCENE = [
    ("北京大学的图书馆很大。", ["北京", "京大", "大学", "学的", "的图", "图书", "书馆", "馆很", "很大"]),
    ("我爱Python编程", ["我爱", "python", "编程"]),
    ("東京タワーに行きました。人々", ["東京", "京タ", "タワ", "ワー", "ーに", "に行", "行き", "きま", "まし", "した",
                                 "人々"]),
    ("2019年に", ["2019", "年に"]),
    ("ｶﾀｶﾅ ＡＢＣ", ["カタ", "タカ", "カナ", "abc"]),
    ("대한민국의 수도는 서울이다", ["대한", "한민", "민국", "국의", "수도", "도는", "서울", "울이", "이다"]),
    ("আদিতে ঈশ্বর আকাশমণ্ডল ও পৃথিবী সৃষ্টি করলেন।", ["আদিতে", "ঈশ্বর", "আকাশমণ্ডল", "ও", "পৃথিবী", "সৃষ্টি",
                                                   "করলেন"]),
    ("आदि में परमेश्वर ने आकाश और पृथ्वी की सृष्टि की।", ["आदि", "में", "परमेश्वर", "ने", "आकाश", "और", "पृथ्वी",
                                                       "की", "सृष्टि", "की"]),
    ("في البدء خلق الله السماوات والأرض.", ["في", "البدء", "خلق", "الله", "السماوات", "والأرض"]),
    ("Ἐν ἀρχῇ ἦν ὁ λόγος", ["ἐν", "ἀρχῇ", "ἦν", "ὁ", "λόγος"]),
    ("Hapo mwanzo kulikuwa na Neno.", ["hapo", "mwanzo", "kulikuwa", "na", "neno"]),
    ("Au commencement était la Parole, naïve élève", ["au", "commencement", "était", "la", "parole", "naïve",
                                                     "élève"]),
]


@pytest.mark.parametrize(("text", "expected"), LUCENE)
def test_tokenizer_follows_the_script_as_lucene_analyzers_do(text, expected):
    assert tokenize(text) == expected


def test_chinese_and_bengali_queries_find_their_documents():
    # With \w+ tokens a Chinese sentence was one token and ঈশ্বর two fragments shared with other words.
    docs = {"zh1": "北京大学的图书馆很大", "zh2": "上海的天气很好", "bn1": "ঈশ্বর আলো সৃষ্টি করলেন", "bn2": "ঈশ আর বর"}
    index = BM25Index(list(docs), list(docs.values()))
    run = index.search({"zh": "图书馆", "bn": "ঈশ্বর"}, k=4)
    assert [d for d, _ in run["zh"]] == ["zh1"]
    assert [d for d, _ in run["bn"]] == ["bn1"]


@pytest.mark.parametrize(("k1", "b"), [(0.9, 0.4), (1.2, 0.75)])
@pytest.mark.parametrize("query", ["cat", "the cat cat", "paka", "winter birds", "unknownword"])
def test_scores_equal_the_formula(query, k1, b):
    index = BM25Index(list(DOCS), list(DOCS.values()), k1=k1, b=b)
    expected = _formula(query, k1, b)
    assert index.scores(query) == pytest.approx([expected[d] for d in DOCS], abs=1e-12)


def test_scores_equal_bm25s_lucene():
    bm25s = pytest.importorskip("bm25s", reason="bm25s (the test extra) is the second reference")
    reference = bm25s.BM25(k1=0.9, b=0.4, method="lucene", dtype="float64")
    docs = {**DOCS, "zh": "北京大学的图书馆很大", "bn": "আদিতে ঈশ্বর আকাশমণ্ডল ও পৃথিবী সৃষ্টি করলেন।"}
    reference.index([tokenize(t) for t in docs.values()], show_progress=False)
    index = BM25Index(list(docs), list(docs.values()))
    for query in ["cat", "the cat cat", "paka alimfukuza", "fly", "图书馆 大学", "ঈশ্বর সৃষ্টি"]:
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
