"""``optical evaluate`` as trec_eval users call it, through ``optical.cli.main``."""

from __future__ import annotations

import json

import pytest

from optical.eval.cli import EvaluateConfig, evaluate_command

QRELS = "1 0 a 1\n1 0 b 0\n1 0 c 2\n2 0 x 1\n"
# Query 1: a, b, c tied at 1.0 -> trec_eval order c, b, a.  Query 2 is missing; 9 is unjudged.
RUN = "1 Q0 a 1 1.0 r\n1 Q0 b 2 1.0 r\n1 Q0 c 3 1.0 r\n9 Q0 a 1 1.0 r\n"


def _main(argv: list[str]) -> int:
    """The real ``optical`` command (``optical.cli.main``)."""
    import torch

    from optical.cli import main

    try:
        return main(argv)
    finally:
        # main turns flush-to-zero on for the whole process; later tests (hypothesis) need subnormals.
        torch.set_flush_denormal(False)


@pytest.fixture
def files(tmp_path):
    (tmp_path / "qrels").write_text(QRELS)
    (tmp_path / "run").write_text(RUN)
    return tmp_path / "run", tmp_path / "qrels"


def test_aggregates_like_trec_eval(files, capsys):
    run, qrels = files
    assert _main(["evaluate", "--run", str(run), "--qrels", str(qrels), "--metrics", "AP", "nDCG@10", "RR@10"]) == 0
    captured = capsys.readouterr()
    # Query 1: c (2) at rank 1, a (1) at rank 3: AP = (1 + 2/3) / 2; query 2 scores 0.
    assert captured.out.splitlines()[0] == f"AP\t{((1 + 2 / 3) / 2) / 2:.4f}"
    assert captured.out.splitlines()[2] == "RR@10\t0.5000"
    assert "1 run query(ies) have no judgments" in captured.err and "1 of 2 judged" in captured.err


def test_per_query_lines(files, capsys, tmp_path):
    run, qrels = files
    argv = ["evaluate", "--run", str(run), "--qrels", str(qrels), "--metrics", "RR@10", "P@2", "--per-query",
            "--out", str(tmp_path / "out")]
    assert _main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["1\tRR@10\t1.0000", "1\tP@2\t0.5000", "2\tRR@10\t0.0000", "2\tP@2\t0.0000",
                     "RR@10\t0.5000", "P@2\t0.2500"]
    stored = json.loads((tmp_path / "out" / "results.json").read_text())
    assert stored["per_query"]["P@2"] == {"1": 0.5, "2": 0.0} and stored["missing_queries"] == ["2"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--metrics", "MAPP"], "unknown measure 'MAPP'"),
        (["--metrics", "P"], "P needs a cutoff"),
        (["--query-encoder", "bm25"], "--query-encoder is not used"),
    ],
)
def test_bad_options_are_reported(files, capsys, extra, message):
    run, qrels = files
    assert _main(["evaluate", "--run", str(run), "--qrels", str(qrels), *extra]) == 2
    assert message in capsys.readouterr().err


def test_duplicate_document_in_a_run_is_an_error(tmp_path, capsys):
    (tmp_path / "qrels").write_text(QRELS)
    (tmp_path / "run").write_text("1 Q0 a 1 1.0 r\n1 Q0 a 2 0.5 r\n")
    assert _main(["evaluate", "--run", str(tmp_path / "run"), "--qrels", str(tmp_path / "qrels")]) == 2
    assert "document a appears twice for query 1" in capsys.readouterr().err


def test_run_ids_unknown_to_the_collection_are_an_error(xquadr_root, tmp_path, capsys):
    (tmp_path / "qrels").write_text("q1 0 c1 1\n")
    (tmp_path / "run").write_text("q1 Q0 c1@sw 1 2.0 r\nq1 Q0 c9 2 1.0 r\n")
    argv = ["evaluate", "--run", str(tmp_path / "run"), "--qrels", str(tmp_path / "qrels"),
            "--collection", str(xquadr_root)]
    assert _main(argv) == 2
    assert "1 document id(s) not in the collection, e.g. ['c9']" in capsys.readouterr().err


def test_config_validation():
    with pytest.raises(ValueError, match="--run needs --qrels"):
        EvaluateConfig(run="r")
    with pytest.raises(ValueError, match="give --run with --qrels"):
        EvaluateConfig()
    with pytest.raises(ValueError, match="at least one --query-encoder"):
        EvaluateConfig(collection="c")
    with pytest.raises(ValueError, match="--query-source: 1 values for 2"):
        EvaluateConfig(collection="c", query_encoder=("a", "b"), query_source=("en",))


def test_collection_with_bm25(xquadr_root, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("OPTICAL_CACHE", str(tmp_path / "cache"))
    config = EvaluateConfig(collection=xquadr_root, query_encoder=("bm25",), settings=("mono",), metrics=("AP",),
                            out=tmp_path / "out")
    assert evaluate_command(config) == 0
    out = capsys.readouterr().out
    assert "| en→en | 1.0000 |" in out and "| **macro** | 1.0000 |" in out
    assert (tmp_path / "out" / "runs" / "bm25" / "mono" / "sw-sw.run").is_file()
    pytest.importorskip("matplotlib")
    chart = tmp_path / "out" / "map.png"  # the MAP-per-language chart next to the report
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"wrote {chart}" in out


def test_query_lang_names_a_query_files_language_in_every_label(xquadr_root, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("OPTICAL_CACHE", str(tmp_path / "cache"))
    queries = tmp_path / "sw-queries.tsv"
    queries.write_text((xquadr_root / "queries" / "sw.tsv").read_text())
    argv = ["evaluate", "--collection", str(xquadr_root), "--langs", "en", "--query-encoder", "bm25",
            "--query-source", str(queries), "--query-lang", "sw", "--metrics", "AP", "--out", str(tmp_path / "out")]
    assert _main(argv) == 0
    markdown = (tmp_path / "out" / "results.md").read_text()
    assert "| sw→en |" in markdown and "en→en" not in markdown
    stored = json.loads((tmp_path / "out" / "results.json").read_text())
    assert [(r["query_lang"], r["label"]) for r in stored["results"]] == [("sw", "sw→en")]
    assert (tmp_path / "out" / "runs" / "bm25" / "mono" / "sw-en.run").is_file()
    assert _main(argv[:-2] + ["--query-lang", "sw", "tl"]) == 2
    assert "--query-lang: 2 values for 1 system(s)" in capsys.readouterr().err


def test_trec_style_folder_on_the_command_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("OPTICAL_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "clef-so"
    root.mkdir()
    (root / "topics.so.txt").write_text("<top>\n<num> Number: 1\n<title> bisad\n<desc> Description:\nbisad yar\n"
                                        "</top>\n<top>\n<num> Number: 2\n<title> eey\n</top>\n")
    (root / "qrels.txt").write_text("1 0 d1 1\n2 0 d2 1\n")
    (root / "docs.tsv").write_text("d1\tbisad cat\nd2\teey dog\nd3\tshimbir bird\n")
    argv = ["evaluate", "--collection", str(root), "--langs", "so", "--query-encoder", "bm25", "--metrics", "AP"]
    assert _main(argv) == 0
    assert "| so→en | 1.0000 |" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--dataset", "wikiclir/sw", "--query-encoder", "bm25"], "--dataset takes an ir_datasets id written irds:"),
        (["--dataset", "irds:wikiclir/sw", "--collection", "x", "--query-encoder", "bm25"],
         "give --collection or --dataset, not both"),
    ],
)
def test_dataset_flag_is_checked(argv, message, capsys):
    assert _main(["evaluate", *argv]) == 2
    assert message in capsys.readouterr().err
