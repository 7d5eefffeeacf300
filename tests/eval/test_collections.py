"""Settings on multi-parallel collections and WikiCLIR tasks, from the on-disk layouts."""

from __future__ import annotations

import pytest

from optical.data.errors import DataFormatWarning
from optical.eval.collections import (
    CollectionSource,
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


def _mmarco(root, files: dict[str, str]):
    root.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (root / name).write_text(text)
    return root


def test_mmarco_queries_without_a_collection_search_the_english_documents(tmp_path):
    root = _mmarco(tmp_path / "mmarco", {
        "english_collection.tsv": "100\tone cat\n101\ttwo dogs\n",
        "english_queries.test.tsv": "1\tcat\n2\tdogs\n",
        "swahili_queries.test.tsv": "1\tpaka\n2\tmbwa\n",
        "qrels.test.tsv": "1\t0\t100\t1\n2\t0\t101\t1\n",
        "swahili-queries.tsv": "1\tmisnamed\n",
    })
    with pytest.warns(DataFormatWarning, match=r"not part of the mMARCO layout, not read: swahili-queries\.tsv"):
        source = open_source(root, split="test")
    assert source.languages == ("en", "sw") and source.document_languages == ("en",)
    assert source.settings == ("mono", "cross")
    labels = {(t.setting, t.label) for t in source.tasks(source.settings)}
    assert labels == {("mono", "en→en"), ("cross", "sw→en")}
    # Asking for the query-only language alone searches the collections there are.
    with pytest.warns(DataFormatWarning):
        alone = open_source(root, split="test", langs=["sw"])
    (task,) = alone.tasks(alone.settings)
    assert (task.setting, task.label, task.queries.texts) == ("cross", "sw→en", ("paka", "mbwa"))
    assert task.documents[0].texts == ("one cat", "two dogs")


def test_mmarco_collection_without_queries_is_searched_only(tmp_path):
    root = _mmarco(tmp_path / "mmarco", {
        "english_collection.tsv": "100\tone cat\n",
        "english_queries.dev.tsv": "1\tcat\n",
        "german_collection.tsv": "100\teine Katze\n",
        "qrels.dev.tsv": "1\t0\t100\t1\n",
    })
    source = open_source(root)
    assert source.languages == ("en",) and source.document_languages == ("de", "en")
    assert [(t.setting, t.label) for t in source.tasks(source.settings)] == [
        ("mono", "en→en"), ("cross", "en→de"), ("multi", "en→all")]


def test_mmarco_language_outside_the_published_ones(tmp_path):
    # The example: Amharic queries next to the English collection, asked for by code.
    root = _mmarco(tmp_path / "mmarco", {
        "english_collection.tsv": "100\tone cat\n",
        "amharic_queries.test.tsv": "1\tድመት\n",
        "qrels.test.tsv": "1\t0\t100\t1\n",
    })
    for source in (open_source(root, split="test"), open_source(root, split="test", langs=["am"])):
        assert source.languages == ("am",)
        assert [t.label for t in source.tasks(source.settings)] == ["am→en"]


def test_wikiclir_language_folders_are_found_by_their_relevance_files(wikiclir_root):
    base = wikiclir_root / "wiki-clir"
    (base / "somali").mkdir()
    (base / "somali" / "wiki_so.queries").write_text("q1\tbisad\tbisad\n")
    (base / "somali" / "so2en.rel").write_text("q1\tc1\t2\n")
    source = open_source(wikiclir_root)
    assert source.languages == ("so", "sw")
    task = source.tasks()[0]
    assert (task.label, task.queries.texts) == ("so→en", ("bisad",))


def test_a_collection_is_a_source(tmp_path):
    from optical.data import Collection, Document, Query

    collection = Collection(
        queries={"1": Query("1", "paka", "sw"), "2": Query("2", "unjudged", "sw")},
        documents={"a": Document("a", "cat", "en"), "b": Document("b", "dog", "en")},
        qrels={"1": {"a": 1}},
        name="tiny",
    )
    source = CollectionSource(collection)
    assert (source.name, source.languages, source.settings, source.parallel) == ("tiny", ("sw",), ("cross",), False)
    (task,) = source.tasks(["cross"])
    assert task.queries.ids == ("1",) and task.document_ids == ["a", "b"] and task.label == "sw→en"
    with pytest.raises(ValueError, match="only the cross setting"):
        source.tasks(["mono"])


def test_trec_style_folder_is_a_source(tmp_path):
    root = tmp_path / "ciral-so"
    root.mkdir()
    (root / "topics.so.tsv").write_text("1\tbisad\n2\teey\n3\tunjudged\n")
    (root / "qrels.so.txt").write_text("1 0 d1 1\n2 0 d2 1\n")
    (root / "docs").mkdir()
    (root / "docs" / "part1.tsv").write_text("d1\tbisad cat\nd2\teey dog\nd3\tshimbir bird\n")
    source = open_source(root, langs=["so"])
    assert isinstance(source, CollectionSource) and source.settings == ("cross",)
    (task,) = source.tasks(source.settings)
    assert task.label == "so→en" and task.queries.texts == ("bisad", "eey") and len(task.document_ids) == 3
