"""Settings on multi-parallel collections and WikiCLIR tasks, from the on-disk layouts."""

from __future__ import annotations

import pytest

from optical.eval.collections import (
    ParallelSource,
    WikiClirSource,
    open_source,
    parallel_setting_pairs,
)


def test_setting_pairs_cover_every_language_pair():
    pairs = parallel_setting_pairs(["en", "sw", "tl"], ["mono", "cross", "multi"])
    assert [p for p in pairs if p[0] == "mono"] == [("mono", x, (x,)) for x in ("en", "sw", "tl")]
    cross = {(x, y[0]) for s, x, y in pairs if s == "cross"}
    assert cross == {(x, y) for x in ("en", "sw", "tl") for y in ("en", "sw", "tl") if x != y}
    assert [p for p in pairs if p[0] == "multi"] == [("multi", x, ("en", "sw", "tl")) for x in ("en", "sw", "tl")]
    with pytest.raises(ValueError, match="unknown setting"):
        parallel_setting_pairs(["en"], ["pooled"])


def test_parallel_source_tasks(xquadr_root):
    source = open_source(xquadr_root)
    assert isinstance(source, ParallelSource) and source.languages == ("en", "sw")
    tasks = {(t.setting, t.label): t for t in source.tasks()}
    assert set(tasks) == {("mono", "en→en"), ("mono", "sw→sw"), ("cross", "en→sw"), ("cross", "sw→en"),
                          ("multi", "en→all"), ("multi", "sw→all")}
    cross = tasks[("cross", "sw→en")]
    assert cross.queries.texts[0] == "paka alikaa mkeka" and cross.documents[0].texts[0] == "the cat sat on the mat"
    pooled = tasks[("multi", "sw→all")]
    assert pooled.document_ids == ["c1@en", "c2@en", "c3@en", "c4@en", "c1@sw", "c2@sw", "c3@sw", "c4@sw"]
    # Every language version of a judged passage keeps its grade.
    assert pooled.qrels["q2"] == {"c2@en": 2, "c2@sw": 2}
    assert pooled.qrels["q3"] == {"c3@en": 1, "c3@sw": 1, "c4@en": 0, "c4@sw": 0}


def test_max_queries_keeps_the_first_judged_queries(xquadr_root):
    tasks = ParallelSource(xquadr_root, ["sw"], layout="xquadr", max_queries=2).tasks(["mono"])
    assert tasks[0].queries.ids == ("q1", "q2") and set(tasks[0].qrels) == {"q1", "q2"}


def test_wikiclir_source(wikiclir_root):
    source = open_source(wikiclir_root)
    assert isinstance(source, WikiClirSource) and source.direction == "x2en" and source.languages == ("sw",)
    (task,) = source.tasks()
    assert (task.setting, task.label) == ("cross", "sw→en")
    assert task.qrels["q1"] == {"c1": 2}
    assert source.queries_in("en").subset(["q2"]).texts == ("dog ran far",)
    with pytest.raises(ValueError, match="only the cross setting"):
        source.tasks(["mono"])


def test_bad_collections_are_clear_errors(tmp_path, xquadr_root):
    with pytest.raises(ValueError, match="not a directory"):
        open_source(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="not a WikiCLIR"):
        open_source(tmp_path / "empty")
    with pytest.raises(ValueError, match=r"no xquadr files for \['tl'\]"):
        open_source(xquadr_root, langs=["tl"])


def test_mmarco_layout_is_a_parallel_source(tmp_path):
    root = tmp_path / "mmarco"
    root.mkdir()
    files = (("english", ["one cat", "two dogs"], ["cat"]), ("swahili", ["paka", "mbwa"], ["paka"]))
    for name, passages, queries in files:
        (root / f"{name}_collection.tsv").write_text("".join(f"{i}\t{t}\n" for i, t in enumerate(passages, 100)))
        (root / f"{name}_queries.dev.tsv").write_text("".join(f"{i}\t{t}\n" for i, t in enumerate(queries, 1)))
    (root / "qrels.dev.tsv").write_text("1\t0\t100\t1\n")
    source = open_source(root)
    assert isinstance(source, ParallelSource) and source.languages == ("en", "sw")
    multi = [t for t in source.tasks(["multi"]) if t.query_lang == "sw"][0]
    assert multi.queries.texts == ("paka",) and multi.qrels == {"1": {"100@en": 1, "100@sw": 1}}
