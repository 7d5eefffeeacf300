"""The pipeline on tiny collections: values derived by hand (BM25) or by brute force (dense)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch.nn.functional as F

from optical.data import read_trec_run
from optical.eval.collections import open_source
from optical.eval.evaluator import System, run_evaluation
from optical.eval.metrics import EvaluationWarning
from optical.eval.report import report_to_dict, report_to_markdown, write_report
from optical.eval.retrievers import BM25Retriever, DenseRetriever
from optical.models.tiny import tiny_encoder

WORDS = ["cat", "sat", "mat", "dog", "paka", "mbwa", "bird", "ndege"]


@pytest.fixture(autouse=True)
def cache_root(tmp_path, monkeypatch):
    monkeypatch.setenv("OPTICAL_CACHE", str(tmp_path / "cache"))


def _evaluate(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EvaluationWarning)
        return run_evaluation(*args, **kwargs)


def test_bm25_on_every_setting_by_hand(xquadr_root, tmp_path):
    report = _evaluate(open_source(xquadr_root), [System("bm25", BM25Retriever())], ["AP", "RR@10"],
                       out=tmp_path / "out")
    by_label = {(r.setting, r.label): r.evaluation.aggregates for r in report.results}
    # Monolingual: each query's words occur only in its relevant passage.
    assert by_label[("mono", "en→en")] == {"AP": 1.0, "RR@10": 1.0}
    # Cross-lingual: no shared word, nothing retrieved.
    assert by_label[("cross", "en→sw")] == {"AP": 0.0, "RR@10": 0.0}
    # Pooled: only the query language's version is retrieved (rank 1) of the two relevant: AP 1/2.
    assert by_label[("multi", "sw→all")] == {"AP": 0.5, "RR@10": 1.0}
    assert report.macro("bm25", "cross") == {"AP": 0.0, "RR@10": 0.0}
    # Rank distance: the other version sits among the 7 zero-score passages, ordered by docid
    # descending (c4@sw, c4@en, c3@sw, c3@en, c2@sw, c2@en, c1@sw): q1 -> rank 8, q2 -> 6, q3 -> 4.
    assert report.bias_per_query["bm25"]["en"] == {"q1": 7.0, "q2": 5.0, "q3": 3.0}
    assert report.bias["bm25"] == {"en": 5.0, "sw": 5.0, "macro": 5.0}
    run = read_trec_run(tmp_path / "out" / "runs" / "bm25" / "multi" / "sw-all.run")
    assert [d for d, _ in run["q1"]] == ["c1@sw"]


def test_dense_runs_equal_brute_force_and_systems_are_compared(xquadr_root, tmp_path):
    query_encoder = tiny_encoder(WORDS, dropout=0.0, seed=1)
    doc_encoder = tiny_encoder(WORDS, dropout=0.0, seed=2)
    systems = [
        System("bm25", BM25Retriever()),
        System("tiny", DenseRetriever(query_encoder, doc_encoder, name="tiny", chunk_size=3)),
        System("tiny-en", DenseRetriever(query_encoder, doc_encoder, name="tiny-en"), query_source="en"),
    ]
    report = _evaluate(open_source(xquadr_root, langs=["sw", "en"]), systems, ["AP", "nDCG@10"],
                       settings=["mono", "multi"], depth=3, out=tmp_path / "out")
    source = open_source(xquadr_root)
    queries = source.queries_in("sw")
    documents = source.documents_in("en").pooled(), source.documents_in("sw").pooled()
    q = query_encoder.encode(list(queries.texts), kind="query")
    d = F.normalize(doc_encoder.encode([t for part in documents for t in part.texts], kind="passage"), dim=1)
    scores = (q @ d.T).numpy()
    ids = [i for part in documents for i in part.ids]
    written = read_trec_run(tmp_path / "out" / "runs" / "tiny" / "multi" / "sw-all.run")
    for row, qid in enumerate(queries.ids):
        assert [docid for docid, _ in written[qid]] == [ids[j] for j in np.argsort(-scores[row])[:3]]
    # The English-query system sees English text for the same ids, so its sw row equals en's native row.
    rows = {(r.system, r.setting, r.label): r.evaluation for r in report.results}
    assert rows[("tiny-en", "mono", "sw→sw")].per_query != {} and (
        rows[("tiny-en", "multi", "sw→all")].aggregates == rows[("tiny", "multi", "en→all")].aggregates
    )
    assert set(report.significance) == {"tiny", "tiny-en"}
    assert set(report.significance["tiny"]["mono"]) == {"sw→sw", "en→en"}
    assert set(report.alignment["tiny"]) == {"sw-en"}
    assert 0.0 <= report.alignment["tiny"]["sw-en"]["p_at_1"] <= 1.0
    assert set(report.bias) == {"bm25", "tiny", "tiny-en"}


def test_maxsim_reranking_scores_the_dense_candidates(xquadr_root):
    encoder = tiny_encoder(WORDS, dropout=0.0, seed=3)
    retriever = DenseRetriever(encoder, encoder, name="late", rerank_depth=3)
    report = _evaluate(open_source(xquadr_root, langs=["en"]), [System("late", retriever)], ["AP"])
    source = open_source(xquadr_root)
    queries, documents = source.queries_in("en"), source.documents_in("en")
    dense = DenseRetriever(encoder, encoder).search(queries, [documents], 3)
    rerun = retriever.search(queries, [documents], 3)
    for qid, ranking in rerun.items():
        assert {d for d, _ in ranking} == {d for d, _ in dense[qid]}  # the same candidates, re-scored
        text = dict(zip(documents.ids, documents.texts, strict=True))
        query = encoder.encode_tokens([queries.subset([qid]).texts[0]], "query")
        q = F.normalize(query.embeddings[0][query.token_mask[0]], dim=1)
        for docid, score in ranking:
            doc = encoder.encode_tokens([text[docid]], "passage")
            d = F.normalize(doc.embeddings[0][doc.token_mask[0]], dim=1)
            assert score == pytest.approx(float((q @ d.T).max(dim=1).values.sum().detach()), abs=1e-5)
    assert report.bias == {}


def test_report_json_and_markdown_hold_every_number(xquadr_root, tmp_path):
    report = _evaluate(open_source(xquadr_root), [System("bm25", BM25Retriever())], ["AP", "RR@10"],
                       settings=["mono", "multi"])
    json_path, markdown_path = write_report(report, tmp_path / "report")
    stored = json.loads(json_path.read_text())
    assert stored == json.loads(json.dumps(report_to_dict(report)))
    row = next(r for r in stored["results"] if r["label"] == "sw→all")
    assert row["per_query"]["AP"] == {"q1": 0.5, "q2": 0.5, "q3": 0.5} and row["aggregates"]["AP"] == 0.5
    assert stored["macro"]["bm25"]["mono"]["AP"] == 1.0
    assert "machine" in stored["info"]
    markdown = markdown_path.read_text()
    assert markdown == report_to_markdown(report)
    assert "| sw→all | 0.5000 |" in markdown and "| **macro** | 0.5000 |" in markdown
    assert "| bm25 | 5.0 | 5.0 | 5.0 |" in markdown


def test_wikiclir_with_english_queries(wikiclir_root):
    systems = [System("bm25", BM25Retriever()), System("bm25-en", BM25Retriever(), query_source="en")]
    report = _evaluate(open_source(wikiclir_root), systems, ["AP"])
    assert [(r.system, r.label, r.evaluation.aggregates["AP"]) for r in report.results] == [
        ("bm25", "sw→en", 0.0), ("bm25-en", "sw→en", 1.0)
    ]
    assert report.bias == {} and report.alignment == {}
    # Every query gains exactly 1: t is infinite, which strict JSON cannot hold as a number.
    stored = json.loads(json.dumps(report_to_dict(report), allow_nan=False))
    test = stored["significance"]["bm25-en"]["cross"]["sw→en"]
    assert (test["statistic"], test["p_value"], test["adjusted_p_value"]) == ("inf", 0.0, 0.0)


def test_judgments_of_unknown_documents_are_counted(xquadr_root):
    with open(xquadr_root / "qrels.tsv", "a") as qrels:
        qrels.write("q1 0 c99 1\n")
    source = open_source(xquadr_root, langs=["en"])
    with pytest.warns(EvaluationWarning, match="mono en→en: 1 judgment"):
        report = run_evaluation(source, [System("bm25", BM25Retriever())], ["AP"])
    assert report.results[0].evaluation.per_query["AP"]["q1"] == 0.5  # c1 found; c99 cannot be


def test_bad_systems_are_errors(wikiclir_root):
    source = open_source(wikiclir_root)
    with pytest.raises(ValueError, match="unique"):
        run_evaluation(source, [System("a", BM25Retriever()), System("a", BM25Retriever())], ["AP"])
    with pytest.raises(ValueError, match="no tl queries"):
        run_evaluation(source, [System("a", BM25Retriever(), query_source="tl")], ["AP"])


def test_a_query_file_in_a_named_language_labels_every_row(xquadr_root, tmp_path):
    # Swahili queries from a file, run on the English-only task: the rows say sw→en, not en→en.
    queries = tmp_path / "sw-queries.tsv"
    queries.write_text((xquadr_root / "queries" / "sw.tsv").read_text())
    systems = [System("bm25", BM25Retriever()),
               System("bm25-file", BM25Retriever(), query_source=str(queries), query_lang="sw")]
    report = _evaluate(open_source(xquadr_root, langs=["en"]), systems, ["AP"], out=tmp_path / "out")
    assert [(r.system, r.query_lang, r.label, r.task) for r in report.results] == [
        ("bm25", "en", "en→en", "en→en"), ("bm25-file", "sw", "sw→en", "en→en")]
    assert report.rows("bm25-file", "mono")[0].run_file.endswith("bm25-file/mono/sw-en.run")
    # The two systems still pair on the task, and a row shared by different labels shows the task.
    assert set(report.significance["bm25-file"]["mono"]) == {"en→en"}
    assert "| en→en | 1.0000 | 0.0000† |" in report_to_markdown(report)
    stored = report_to_dict(report)
    assert [r["label"] for r in stored["results"]] == ["en→en", "sw→en"]
    assert stored["info"]["systems"]["bm25-file"]["query_lang"] == "sw"
    alone = _evaluate(open_source(xquadr_root, langs=["en"]), systems[1:], ["AP"])
    assert "| sw→en | 0.0000 |" in report_to_markdown(alone)


class _Lexical:
    """A retriever written against the protocol alone: no base class, no full ranking, no vectors."""

    name = "lexical"
    has_full_ranking = False

    def __init__(self) -> None:
        self.inner = BM25Retriever()

    def search(self, queries, documents, k):
        return self.inner.search(queries, documents, k)

    def ranks(self, queries, documents, targets):
        raise AssertionError("ranks is not asked of a retriever without a full ranking")

    def alignment_vectors(self, sentences, pivot):
        raise AssertionError("not reached")

    def describe(self):
        return {"retriever": "lexical", "note": "protocol only"}


def test_any_object_with_the_retriever_protocol_is_a_system(xquadr_root):
    report = _evaluate(open_source(xquadr_root), [System("lexical", _Lexical())], ["AP"])
    assert report.macro("lexical", "mono") == {"AP": 1.0}
    assert report.bias == {} and report.alignment == {}
    assert report.info["systems"]["lexical"] == {"query_source": "native", "retriever": "lexical",
                                                 "note": "protocol only"}


def test_encoder_cache_is_an_explicit_object(tmp_path):
    from optical.eval.retrievers import EncoderCache, load_encoder, shared_encoders

    encoder = tiny_encoder(WORDS)
    encoder.save(tmp_path / "tiny")
    cache, other = EncoderCache(), EncoderCache()
    first = load_encoder(str(tmp_path / "tiny"), cache=cache)
    assert load_encoder(str(tmp_path / "tiny"), cache=cache) is first and len(cache) == 1
    assert load_encoder(str(tmp_path / "tiny"), cache=other) is not first
    before = len(shared_encoders)
    assert len(cache) == 1 and len(shared_encoders) == before  # a given cache leaves the shared one alone
    cache.clear()
    assert len(cache) == 0 and load_encoder(str(tmp_path / "tiny"), cache=cache) is not first
