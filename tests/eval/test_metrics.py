"""Measures equal trec_eval's, as computed by pytrec_eval and ir_measures, on TREC-format inputs."""

from __future__ import annotations

import math
import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optical.data import read_qrels, read_trec_run
from optical.eval.metrics import EvaluationWarning, check_run, evaluate, rank_run

pytrec_eval = pytest.importorskip("pytrec_eval", reason="pytrec-eval-terrier (the test extra) is the reference")
ir_measures = pytest.importorskip("ir_measures", reason="ir-measures (the test extra) is the reference")

# Graded qrels in the TREC 4-column format; 303 is judged but has no relevant document.
QRELS = """\
301 0 FBIS3-10082 2
301 0 FBIS3-10169 0
301 0 FT921-7107 1
301 0 LA010189-0001 1
302 0 FBIS3-20000 1
302 0 FBIS3-20001 3
303 0 FT921-0001 0
304 0 LA010189-0099 1
"""
# 301 has three documents tied at 7.5: trec_eval orders ties by docid *descending*
# (LA010189-0001 > FT921-7107 > FBIS3-10169).  The rank column is deliberately misleading.
# 304 is judged but not in the run; 305 is in the run but not judged.
RUN = """\
301 Q0 FBIS3-10169 1 7.5 tied
301 Q0 FT921-7107 2 7.5 tied
301 Q0 LA010189-0001 3 7.5 tied
301 Q0 FBIS3-10082 4 3.25 tied
301 Q0 FBIS3-99999 5 1.0 tied
302 Q0 FBIS3-20001 1 -0.5 tied
302 Q0 FBIS3-20000 2 -0.25 tied
303 Q0 FT921-0001 1 2.0 tied
305 Q0 FT921-0001 1 2.0 tied
"""
MEASURES = ["AP", "nDCG@10", "nDCG@2", "nDCG", "RR", "R@2", "R@100", "P@2", "P@5", "AP(rel=2)",
            "P(rel=2)@5", "RR(rel=3)", "AP@2", "Success@1"]
# ir_measures computes RR@k with the MS MARCO script, which breaks score ties by docid *ascending*
# (trec_eval: descending), so RR@k is checked against ir_measures only on runs without ties, and
# against pytrec_eval's recip_rank (RR@k = RR when RR >= 1/k, else 0) on runs with ties.


@pytest.fixture
def qrels_and_run(tmp_path):
    (tmp_path / "qrels").write_text(QRELS)
    (tmp_path / "run").write_text(RUN)
    return read_qrels(tmp_path / "qrels"), read_trec_run(tmp_path / "run")


def _quiet_evaluate(qrels, run, measures):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EvaluationWarning)
        return evaluate(qrels, run, measures)


def test_ties_are_broken_by_docid_descending():
    assert rank_run([("a", 1.0), ("c", 1.0), ("b", 2.0), ("B", 1.0)]) == ["b", "c", "a", "B"]


def test_hand_computed_values(qrels_and_run):
    qrels, run = qrels_and_run
    result = _quiet_evaluate(qrels, run, ["AP", "RR@1", "P@2", "nDCG@2"]).per_query
    # 301 in trec_eval order: LA010189-0001 (1), FT921-7107 (1), FBIS3-10169 (0), FBIS3-10082 (2), FBIS3-99999.
    assert result["AP"]["301"] == pytest.approx((1 / 1 + 2 / 2 + 3 / 4) / 3)
    assert result["RR@1"]["301"] == 1.0
    assert result["P@2"]["301"] == 1.0
    ideal = 2 + 1 / math.log2(3)
    assert result["nDCG@2"]["301"] == pytest.approx((1 + 1 / math.log2(3)) / ideal)
    # 302: FBIS3-20000 (score -0.25) ranks above FBIS3-20001 (-0.5) whatever the rank column says.
    assert result["AP"]["302"] == pytest.approx((1 / 1 + 2 / 2) / 2)
    assert result["nDCG@2"]["302"] == pytest.approx((1 + 3 / math.log2(3)) / (3 + 1 / math.log2(3)))
    # 303 has no relevant document, 304 was not retrieved: both 0.
    assert result["AP"]["303"] == 0.0 and result["AP"]["304"] == 0.0


def _rr_at(value: float, cutoff: int) -> float:
    return value if value >= 1 / cutoff - 1e-12 else 0.0


def test_equal_to_pytrec_eval_per_query(qrels_and_run):
    qrels, run = qrels_and_run
    ours = _quiet_evaluate(qrels, run, ["AP", "nDCG@10", "nDCG", "RR", "P@5", "R@100", "RR@1", "RR@2"]).per_query
    scored = {qid: {d: s for d, s in ranking} for qid, ranking in run.items()}
    names = {"AP": "map", "nDCG@10": "ndcg_cut_10", "nDCG": "ndcg", "RR": "recip_rank", "P@5": "P_5",
             "R@100": "recall_100"}
    reference = pytrec_eval.RelevanceEvaluator(qrels, {"map", "ndcg_cut.10", "ndcg", "recip_rank", "P.5",
                                                       "recall.100"}).evaluate(scored)
    for ours_name, theirs in names.items():
        for qid, values in reference.items():
            assert ours[ours_name][qid] == pytest.approx(values[theirs], abs=1e-12), (ours_name, qid)
        for cutoff in (1, 2):
            assert ours[f"RR@{cutoff}"][qid] == pytest.approx(_rr_at(values["recip_rank"], cutoff), abs=1e-12)
    # pytrec_eval scores only queries in the run; trec_eval -c (and we) count the others as 0.
    assert set(reference) == {"301", "302", "303"}
    assert ours["AP"]["304"] == 0.0


def test_relevance_level_equal_to_pytrec_eval(qrels_and_run):
    qrels, run = qrels_and_run
    scored = {qid: {d: s for d, s in ranking} for qid, ranking in run.items()}
    reference = pytrec_eval.RelevanceEvaluator(qrels, {"map", "P.5"}, relevance_level=2).evaluate(scored)
    ours = _quiet_evaluate(qrels, run, ["AP(rel=2)", "P(rel=2)@5"]).per_query
    for qid, values in reference.items():
        assert ours["AP(rel=2)"][qid] == pytest.approx(values["map"], abs=1e-12)
        assert ours["P(rel=2)@5"][qid] == pytest.approx(values["P_5"], abs=1e-12)


def test_equal_to_ir_measures_including_aggregates(qrels_and_run):
    qrels, run = qrels_and_run
    ours = _quiet_evaluate(qrels, run, MEASURES)
    scored = {qid: {d: s for d, s in ranking} for qid, ranking in run.items()}
    parsed = [ir_measures.parse_measure(name) for name in MEASURES]
    for result in ir_measures.iter_calc(parsed, qrels, scored):
        assert ours.per_query[str(result.measure)][result.query_id] == pytest.approx(result.value, abs=1e-12)
    for measure, value in ir_measures.calc_aggregate(parsed, qrels, scored).items():
        assert ours.aggregates[str(measure)] == pytest.approx(value, abs=1e-12), measure


def test_query_bookkeeping_and_warnings(qrels_and_run):
    qrels, run = qrels_and_run
    with pytest.warns(EvaluationWarning) as caught:
        result = evaluate(qrels, run, ["AP"])
    messages = " ".join(str(w.message) for w in caught)
    assert "1 run query(ies) have no judgments" in messages and "1 of 4 judged" in messages
    assert result.query_ids == ("301", "302", "303", "304")
    assert result.missing_queries == ("304",) and result.unjudged_run_queries == ("305",)
    assert result.aggregates["AP"] == pytest.approx(sum(result.per_query["AP"].values()) / 4)


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match="qrels hold no query"):
        evaluate({}, {"q": [("d", 1.0)]}, ["AP"])
    with pytest.raises(ValueError, match="appears twice"):
        evaluate({"q": {"d": 1}}, {"q": [("d", 1.0), ("d", 0.5)]}, ["AP"])
    with pytest.raises(ValueError, match="unknown measure 'MAP@X'|cannot read measure"):
        evaluate({"q": {"d": 1}}, {"q": [("d", 1.0)]}, ["MAP@X"])
    with pytest.raises(ValueError, match="1 document id"):
        check_run({"q": [("d", 1.0), ("zz", 0.5)]}, query_ids=["q"], document_ids=["d"])
    with pytest.raises(ValueError, match="1 query id"):
        check_run({"q": [("d", 1.0)], "x": []}, query_ids=["q"])


DOCS = [f"d{i}" for i in range(12)]
GENERATED = ["AP", "nDCG@5", "nDCG@10", "nDCG", "RR", "P@5", "R@5", "R@10", "AP(rel=2)", "P(rel=2)@3", "AP@3",
             "Success@2"]


@st.composite
def qrels_and_runs(draw, ties: bool = True):
    queries = [f"q{i}" for i in range(draw(st.integers(1, 5)))]
    qrels = {
        q: draw(st.dictionaries(st.sampled_from(DOCS), st.integers(0, 3), min_size=1, max_size=8)) for q in queries
    }
    # Scores on a coarse grid, so ties are frequent; some queries are left out of the run.
    # Without ties: distinct scores per query.
    score = st.integers(-3, 3).map(lambda x: x / 2)
    run = {}
    for q in queries:
        if draw(st.booleans()):
            ranking = draw(st.dictionaries(st.sampled_from(DOCS), score, max_size=12))
            if not ties:
                ranking = {d: float(i) for i, d in enumerate(draw(st.permutations(sorted(ranking))))}
            run[q] = ranking
    return qrels, run


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(qrels_and_runs())
def test_random_runs_equal_ir_measures_and_pytrec_eval(data):
    qrels, run = data
    ours = _quiet_evaluate(qrels, run, GENERATED)
    parsed = [ir_measures.parse_measure(name) for name in GENERATED]
    for measure, value in ir_measures.calc_aggregate(parsed, qrels, run).items():
        assert ours.aggregates[str(measure)] == pytest.approx(value, abs=1e-12), measure
    reference = pytrec_eval.RelevanceEvaluator(qrels, {"map", "ndcg_cut.10", "recip_rank", "P.5"}).evaluate(run)
    rr_at_3 = _quiet_evaluate(qrels, run, ["RR@3"]).per_query["RR@3"]
    for qid, values in reference.items():
        assert rr_at_3[qid] == pytest.approx(_rr_at(values["recip_rank"], 3), abs=1e-12)
        assert ours.per_query["AP"][qid] == pytest.approx(values["map"], abs=1e-12)
        assert ours.per_query["nDCG@10"][qid] == pytest.approx(values["ndcg_cut_10"], abs=1e-12)
        assert ours.per_query["RR"][qid] == pytest.approx(values["recip_rank"], abs=1e-12)
        assert ours.per_query["P@5"][qid] == pytest.approx(values["P_5"], abs=1e-12)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(qrels_and_runs(ties=False))
def test_random_runs_without_ties_equal_ir_measures_on_rr_at_k(data):
    qrels, run = data
    names = ["RR@1", "RR@3", "RR@10"]
    ours = _quiet_evaluate(qrels, run, names)
    parsed = [ir_measures.parse_measure(name) for name in names]
    for measure, value in ir_measures.calc_aggregate(parsed, qrels, run).items():
        assert ours.aggregates[str(measure)] == pytest.approx(value, abs=1e-12), measure
