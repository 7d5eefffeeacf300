from __future__ import annotations

import gzip
import math
import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optical.data import (
    DataFormatError,
    DataFormatWarning,
    Qrel,
    order_ranking,
    read_qrels,
    read_qrels_records,
    read_trec_run,
    read_trec_run_records,
    write_qrels,
    write_trec_run,
)

TREC_QRELS = """\
401 0 FBIS3-10082 1
401 0 FBIS3-10169 0
402 0 FT921-7107 2

"""
MSMARCO_QRELS = "1102432\t0\t2026790\t1\n1102431\t0\t7066866\t1\n1102431\t0\t7066866\t1\n"
WIKICLIR_REL = "12\t3452\t2\n12\t977\t1\n15 3452 1\n"
TREC_RUN = """\
401 Q0 FBIS3-10082 1 12.5 bm25
401 Q0 FBIS3-10169 2 11.0 bm25
402 Q0 FT921-7107 1 -3.25 bm25
"""


def write(tmp_path, name, text: str | bytes):
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


def test_qrels_four_columns(tmp_path):
    qrels = read_qrels(write(tmp_path, "qrels.txt", TREC_QRELS))
    assert qrels == {"401": {"FBIS3-10082": 1, "FBIS3-10169": 0}, "402": {"FT921-7107": 2}}


def test_qrels_msmarco_tabs_and_repeated_lines(tmp_path):
    assert read_qrels(write(tmp_path, "qrels.dev.tsv", MSMARCO_QRELS)) == {
        "1102432": {"2026790": 1},
        "1102431": {"7066866": 1},
    }


def test_qrels_three_columns(tmp_path):
    path = write(tmp_path, "en2de.rel", WIKICLIR_REL)
    assert read_qrels(path) == {"12": {"3452": 2, "977": 1}, "15": {"3452": 1}}
    assert list(read_qrels_records(path, columns=3))[0] == Qrel("12", "3452", 2)


def test_qrels_repeated_pair_keeps_highest_grade(tmp_path):
    assert read_qrels(write(tmp_path, "q", "1 0 d 1\n1 0 d 2\n1 0 d 0\n")) == {"1": {"d": 2}}


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("401 0 D1 1\n401 0 D2 one\n", 2, "relevance 'one' is not an integer"),
        ("401 0 D1 1\n401 0 D2 1.0\n", 2, "not an integer"),
        ("401 0 D1 1\n401 D2 1\n", 2, "expected 4"),
        ("401 0 D1 1 extra\n", 1, "expected 3 or 4"),
    ],
)
def test_qrels_bad_lines_name_file_and_line(tmp_path, text, line, reason):
    path = write(tmp_path, "bad.qrels", text)
    with pytest.raises(DataFormatError, match=reason) as caught:
        read_qrels(path)
    assert caught.value.line_number == line
    assert str(caught.value).startswith(f"{path}, line {line}: ")


def test_qrels_bad_utf8(tmp_path):
    path = write(tmp_path, "bad.qrels", b"1 0 d1 1\n1 0 d\xff2 1\n")
    with pytest.raises(DataFormatError, match=r"line 2: invalid UTF-8"):
        read_qrels(path)


def test_qrels_skip_counts_and_warns_once(tmp_path):
    path = write(tmp_path, "bad.qrels", "1 0 a 1\n1 0 b x\n1 0 c 1\n1 0 d 2.5\n")
    with pytest.warns(DataFormatWarning, match=r"skipped 2 malformed line\(s\); first at line 2") as record:
        qrels = read_qrels(path, on_error="skip")
    assert qrels == {"1": {"a": 1, "c": 1}}
    assert len(record) == 1 and str(path) in str(record[0].message)


def test_on_error_is_checked_at_call_time(tmp_path):
    with pytest.raises(ValueError, match="on_error"):
        read_qrels_records(tmp_path / "missing", on_error="ignore")


@pytest.mark.parametrize("columns", [3, 4])
@pytest.mark.parametrize("name", ["qrels.txt", "qrels.txt.gz"])
def test_qrels_round_trip(tmp_path, columns, name):
    qrels = {"q1": {"d1": 2, "d2": 0}, "q2": {"d1": 1}}
    path = tmp_path / name
    assert write_qrels(path, qrels, columns=columns) == 3
    assert read_qrels(path, columns=columns) == qrels


def test_write_qrels_msmarco_format(tmp_path):
    path = tmp_path / "qrels.dev.tsv"
    write_qrels(path, [Qrel("7", "42", 1)], separator="\t")
    assert path.read_text() == "7\t0\t42\t1\n"


def test_write_qrels_rejects_bad_values(tmp_path):
    with pytest.raises(ValueError, match="integer"):
        write_qrels(tmp_path / "q", {"q": {"d": 1.5}})
    with pytest.raises(ValueError, match="whitespace"):
        write_qrels(tmp_path / "q", {"q 1": {"d": 1}})


def test_run_read(tmp_path):
    run = read_trec_run(write(tmp_path, "run.txt", TREC_RUN))
    assert run == {"401": [("FBIS3-10082", 12.5), ("FBIS3-10169", 11.0)], "402": [("FT921-7107", -3.25)]}
    entries = list(read_trec_run_records(tmp_path / "run.txt"))
    assert entries[0].rank == 1 and entries[0].tag == "bm25"


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("401 Q0 D 1 high bm25", "score 'high' is not a number"),
        ("401 Q0 D one 1.0 bm25", "rank 'one' is not an integer"),
        ("401 Q0 D 1 1.0", "expected 6 run columns"),
        ("401 Q0 D 1 nan bm25", "not finite"),
        ("401 Q0 FBIS3-10082 3 1.0 bm25", "appears twice"),
    ],
)
def test_run_bad_lines(tmp_path, line, reason):
    path = write(tmp_path, "run.txt", TREC_RUN + line + "\n")
    with pytest.raises(DataFormatError, match=reason) as caught:
        read_trec_run(path)
    assert caught.value.line_number == 4


def test_write_run_orders_ties_by_docid_descending_with_strictly_decreasing_scores(tmp_path):
    path = tmp_path / "run.txt"
    run = {"q2": [("b", 0.5), ("c", 0.9), ("a", 0.5), ("d", 0.5)], "q1": {"x": 1.0}}
    assert write_trec_run(path, run, tag="dense") == 5
    lines = path.read_text().splitlines()
    assert [line.split()[2] for line in lines] == ["c", "d", "b", "a", "x"]  # ties: docid descending
    assert [line.split()[3] for line in lines] == ["1", "2", "3", "4", "1"]
    scores = [float(line.split()[4]) for line in lines[:4]]
    assert scores[1] == 0.5 and all(a > b for a, b in zip(scores, scores[1:], strict=False))
    assert scores[2] == math.nextafter(0.5, -math.inf)
    assert all(line.endswith(" dense") and line.split()[1] == "Q0" for line in lines)
    # Reading back gives the written order, whether sorted by rank or by score.
    assert [d for d, _ in read_trec_run(path)["q2"]] == ["c", "d", "b", "a"]


def test_write_run_depth_numpy_scores_and_gzip(tmp_path):
    np = pytest.importorskip("numpy")
    path = tmp_path / "run.txt.gz"
    write_trec_run(path, {"q": {"a": np.float32(0.25), "b": np.float64(2.0), "c": 1}}, depth=2)
    with gzip.open(path, "rt") as handle:
        assert handle.read() == "q Q0 b 1 2.0 optical\nq Q0 c 2 1.0 optical\n"


def test_write_run_rejects_bad_scores_and_ids(tmp_path):
    with pytest.raises(ValueError, match="not finite"):
        write_trec_run(tmp_path / "r", {"q": [("a", float("nan"))]})
    with pytest.raises(ValueError, match="twice"):
        write_trec_run(tmp_path / "r", {"q": [("a", 1.0), ("a", 2.0)]})
    with pytest.raises(ValueError, match="whitespace"):
        write_trec_run(tmp_path / "r", {"q": [("a b", 1.0)]})


scores = st.one_of(st.sampled_from([0.0, 1.0, -1.0, 0.5]), st.floats(-1e6, 1e6, allow_nan=False))


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text("abcdef", min_size=1, max_size=3), scores, max_size=30))
def test_order_ranking_is_strict_and_follows_trec_eval_order(scored):
    ranking = order_ranking(scored)
    # trec_eval's order: score descending, then docid descending.
    assert [d for d, _ in ranking] == sorted(scored, key=lambda d: (scored[d], d), reverse=True)
    values = [s for _, s in ranking]
    assert all(a > b for a, b in zip(values, values[1:], strict=False))
    # Only ties move, and only downwards by a few floats.
    for docid, value in ranking:
        assert value <= scored[docid] and math.isclose(value, scored[docid], rel_tol=1e-12, abs_tol=1e-300)


@settings(max_examples=50, deadline=None)
@given(st.dictionaries(st.text("xyz", min_size=1, max_size=3), scores, min_size=1, max_size=20))
def test_run_round_trip_preserves_written_order(tmp_path_factory, scored):
    path = tmp_path_factory.mktemp("run") / "run.txt"
    write_trec_run(path, {"q": scored})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_trec_run(path) == {"q": order_ranking(scored)}


def test_ties_at_zero_stay_strict_with_flush_to_zero_on() -> None:
    import torch

    previous = torch.set_flush_denormal(True)
    try:
        ranking = order_ranking({"a": 0.0, "b": 0.0, "c": 0.0})
        values = [s for _, s in ranking]
        assert all(a > b for a, b in zip(values, values[1:], strict=False))
    finally:
        torch.set_flush_denormal(False)
    assert previous in (True, False)
