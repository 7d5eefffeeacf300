"""WikiCLIR, mMARCO and XQuAD-R-style layouts, on tiny files in the exact distributed formats."""

from __future__ import annotations

import re
import sys

import pytest

from optical.data import (
    DataFormatError,
    DataFormatWarning,
    Document,
    Query,
    Triple,
    load_mmarco,
    load_mmarco_triples,
    load_wikiclir,
    load_xquadr,
    read_documents_tsv,
    read_qrels,
    read_queries_tsv,
    wikiclir_paths,
    write_documents_tsv,
    write_qrels,
    write_queries_tsv,
    write_triples,
    xquadr_languages,
)
from optical.data.irds import load_irds
from optical.data.languages import language_name
from optical.data.wikiclir import WikiClirTopic, read_wikiclir_topics, write_wikiclir_topics


def put(path, text: str | bytes):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


@pytest.fixture
def wikiclir_de(tmp_path):
    base = tmp_path / "wiki-clir"
    put(
        base / "english" / "wiki_en.queries",
        "12\tAnarchism\tAnarchism is a political philosophy.\n"
        "25\tAutism\tAutism is a developmental disorder.\n"
        "39\tAlbedo\tAlbedo is the measure of diffuse reflection.\n",
    )
    put(
        base / "german" / "wiki_de.documents",
        "1\tAnarchismus\tAnarchismus ist eine politische Ideenlehre.\n"
        "7\tAutismus\tAutismus ist eine Entwicklungsstörung.\n"
        "9\tPierre-Joseph Proudhon\tProudhon war ein französischer Ökonom.\n",
    )
    put(base / "german" / "en2de.rel", "12\t1\t2\n12\t9\t1\n25\t7\t2\n")
    return tmp_path


def test_wikiclir_real_layout(wikiclir_de):
    collection = load_wikiclir(wikiclir_de, "de")
    assert collection.name == "wikiclir/en2de"
    assert collection.queries == {"12": Query("12", "Anarchism", "en"), "25": Query("25", "Autism", "en")}
    assert collection.documents["9"] == Document(
        "9", "Proudhon war ein französischer Ökonom.", "de", "Pierre-Joseph Proudhon"
    )
    assert collection.qrels == {"12": {"1": 2, "9": 1}, "25": {"7": 2}}
    assert collection.dangling_judgments() == [] and collection.unjudged_queries() == []


def test_wikiclir_query_field_and_all_queries(wikiclir_de):
    collection = load_wikiclir(wikiclir_de / "wiki-clir", "de", query_field="first_sent", judged_queries_only=False)
    assert collection.queries["39"].text == "Albedo is the measure of diffuse reflection."
    with pytest.raises(ValueError, match="query_field"):
        load_wikiclir(wikiclir_de, "de", query_field="body")


def test_wikiclir_bad_documents_line(wikiclir_de):
    path = wikiclir_de / "wiki-clir" / "german" / "wiki_de.documents"
    put(path, path.read_text() + "10\tno text column\n")
    with pytest.raises(DataFormatError, match=r"wiki_de\.documents, line 4: expected 3 tab-separated columns"):
        load_wikiclir(wikiclir_de, "de")
    with pytest.warns(UserWarning, match="skipped 1"):
        assert len(load_wikiclir(wikiclir_de, "de", on_error="skip").documents) == 3


def test_wikiclir_bad_relevance(wikiclir_de):
    put(wikiclir_de / "wiki-clir" / "german" / "en2de.rel", "12\t1\t2\n12\t9\thigh\n")
    with pytest.raises(DataFormatError, match=r"en2de\.rel, line 2: relevance 'high' is not an integer"):
        load_wikiclir(wikiclir_de, "de")


def test_wikiclir_x2en_round_trip(tmp_path):
    paths = wikiclir_paths(tmp_path, "sw", "x2en")
    assert paths.queries == tmp_path / "swahili" / "wiki_sw.queries"
    assert paths.documents == tmp_path / "english" / "wiki_en.documents"
    assert paths.qrels == tmp_path / "swahili" / "sw2en.rel"
    topics = [WikiClirTopic("JHN.1.1", "Hapo mwanzo kulikuwako Neno.", "Hapo mwanzo kulikuwako Neno.", "sw")]
    documents = [
        Document("JHN.1.1", "In the beginning was the Word.", "en", "John 1:1"),
        Document("JHN.1.2", "The same was in the beginning with God.", "en", "John 1:2"),
    ]
    write_wikiclir_topics(paths.queries, topics)
    write_documents_tsv(paths.documents, documents, titled=True)
    write_qrels(paths.qrels, {"JHN.1.1": {"JHN.1.1": 2, "JHN.1.2": 1}}, columns=3)
    assert list(read_wikiclir_topics(paths.queries, "sw")) == topics
    collection = load_wikiclir(tmp_path, "sw", direction="x2en")
    assert collection.name == "wikiclir/sw2en"
    assert list(collection.queries.values()) == [topics[0].query("title")]
    assert list(collection.documents.values()) == documents
    assert collection.qrels == {"JHN.1.1": {"JHN.1.1": 2, "JHN.1.2": 1}}


def test_language_names():
    assert language_name("sw") == "swahili" and language_name("simple") == "simple_english"
    assert language_name("so") == "somali" and language_name("xx") == "xx"  # any ISO 639 code
    with pytest.raises(ValueError, match="not a language code: '../en'"):
        language_name("../en")


MMARCO = {
    "portuguese_collection.tsv": "0\tO Projeto Manhattan foi um esforço de pesquisa.\n1\tA bomba atômica.\n",
    "english_collection.tsv": "0\tThe Manhattan Project was a research effort.\n1\tThe atomic bomb.\n",
    "portuguese_queries.dev.tsv": "1048585\to que é o projeto manhattan\n2\tpergunta sem julgamento\n",
    "english_queries.dev.tsv": "1048585\twhat is the manhattan project\n2\tunjudged question\n",
    "qrels.dev.tsv": "1048585\t0\t0\t1\n",
    "triples.train.ids.small.tsv": "400296\t1540783\t3518497\n662731\t193249\t2975302\n",
}


@pytest.mark.parametrize("nested", [False, True])
def test_mmarco_layout(tmp_path, nested):
    for name, text in MMARCO.items():
        sub = ""
        if nested and name.endswith("_collection.tsv"):
            sub = "collections/"
        elif nested and "_queries." in name:
            sub = "queries/dev/"
        put(tmp_path / f"{sub}{name}", text)
    mono = load_mmarco(tmp_path, "pt", "dev")
    assert mono.name == "mmarco/pt/dev" and len(mono.queries) == 2
    assert mono.documents["1"] == Document("1", "A bomba atômica.", "pt")
    assert mono.qrels == {"1048585": {"0": 1}}
    cross = load_mmarco(tmp_path, "pt", "dev", doc_lang="en", judged_queries_only=True)
    assert list(cross.queries) == ["1048585"] and cross.documents["0"].lang == "en"
    assert list(load_mmarco_triples(tmp_path))[1] == Triple("662731", "193249", "2975302")


def test_mmarco_missing_file_says_where_it_looked(tmp_path):
    with pytest.raises(FileNotFoundError, match="swahili_queries.dev.tsv not found"):
        load_mmarco(tmp_path, "sw")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("7\tok\n8\t\n", "line 2: empty text"),
        ("7\tok\n8 9\ttext\n", "line 2: qid '8 9' contains whitespace"),
        ("7\tok\n8\ttext\textra\n", "line 2: expected 2 tab-separated columns"),
        (b"7\tok\n8\t\xff\n", "line 2: invalid UTF-8"),
    ],
)
def test_id_text_tsv_bad_lines(tmp_path, text, reason):
    path = put(tmp_path / "q.tsv", text)
    with pytest.raises(DataFormatError, match=reason):
        list(read_queries_tsv(path, "en"))


def test_duplicate_ids_are_errors(tmp_path):
    put(tmp_path / "english_collection.tsv", "0\ta\n0\tb\n")
    put(tmp_path / "english_queries.dev.tsv", "1\tq\n")
    put(tmp_path / "qrels.dev.tsv", "1\t0\t0\t1\n")
    with pytest.raises(DataFormatError, match="line 2: document id 0 appears twice"):
        load_mmarco(tmp_path, "en")


@pytest.mark.parametrize(
    ("emptied", "loader"),
    [
        ("english_collection.tsv", lambda root: load_mmarco(root, "en")),
        ("english_queries.dev.tsv", lambda root: load_mmarco(root, "en")),
        ("qrels.dev.tsv", lambda root: load_mmarco(root, "en")),
        ("wiki-clir/german/en2de.rel", lambda root: load_wikiclir(root, "de")),
        ("wiki-clir/german/wiki_de.documents", lambda root: load_wikiclir(root, "de")),
    ],
)
def test_empty_inputs_are_errors_naming_the_file(wikiclir_de, emptied, loader):
    for name, text in {"english_collection.tsv": "0\ta\n", "english_queries.dev.tsv": "1\tq\n",
                       "qrels.dev.tsv": "1\t0\t0\t1\n"}.items():
        put(wikiclir_de / name, text)
    put(wikiclir_de / emptied, "\n")  # blank lines only: as empty as a file gets
    with pytest.raises(DataFormatError, match=r"^" + re.escape(str(wikiclir_de / emptied)) + r": no "):
        loader(wikiclir_de)


def test_a_file_whose_every_line_is_skipped_is_empty_too(tmp_path):
    path = put(tmp_path / "qrels.txt", "1 0 d x\n")
    with pytest.warns(DataFormatWarning), pytest.raises(DataFormatError, match="no judgment"):
        read_qrels(path, on_error="skip")


def test_repeated_document_id_names_its_line_and_skip_keeps_the_first(tmp_path):
    path = put(tmp_path / "english_collection.tsv", "0\ta\n1\tb\n\n0\tc\n")
    with pytest.raises(DataFormatError, match=r"line 4: document id 0 appears twice \(first at line 1\)"):
        list(read_documents_tsv(path, "en"))
    with pytest.warns(DataFormatWarning, match=r"skipped 1 malformed line\(s\); first at line 4"):
        documents = list(read_documents_tsv(path, "en", on_error="skip"))
    assert documents == [Document("0", "a", "en"), Document("1", "b", "en")]
    queries = put(tmp_path / "wiki_sw.queries", "q1\tA\ta\nq1\tB\tb\n")
    with pytest.raises(DataFormatError, match=r"line 2: query id q1 appears twice"):
        list(read_wikiclir_topics(queries, "sw"))


def test_id_text_round_trip(tmp_path):
    queries = [Query("1", "what is a verse", "en"), Query("2", "¿qué es?", "en")]
    documents = [Document("d1", "text one", "en", "Title"), Document("d2", "text two", "en", "")]
    write_queries_tsv(tmp_path / "q.tsv", queries)
    write_documents_tsv(tmp_path / "d.tsv", documents, titled=True)
    assert list(read_queries_tsv(tmp_path / "q.tsv", "en")) == queries
    assert list(read_documents_tsv(tmp_path / "d.tsv", "en", titled=True)) == documents
    write_triples(tmp_path / "t.tsv", [Triple("1", "d1", "d2")])
    assert (tmp_path / "t.tsv").read_text() == "1\td1\td2\n"


def test_xquadr_mono_cross_pooled(tmp_path):
    for lang, texts in {"en": ("q en", "c1 en", "c2 en"), "sw": ("q sw", "c1 sw", "c2 sw")}.items():
        put(tmp_path / "queries" / f"{lang}.tsv", f"q1\t{texts[0]}\n")
        put(tmp_path / "candidates" / f"{lang}.tsv", f"c1\t{texts[1]}\nc2\t{texts[2]}\n")
    put(tmp_path / "qrels.tsv", "q1 0 c2 1\n")
    assert xquadr_languages(tmp_path) == ("en", "sw")
    mono = load_xquadr(tmp_path, "sw")
    assert mono.queries["q1"].text == "q sw" and mono.documents["c2"].text == "c2 sw"
    cross = load_xquadr(tmp_path, "sw", "en")
    assert cross.documents["c2"].lang == "en" and cross.qrels == {"q1": {"c2": 1}}
    pooled = load_xquadr(tmp_path, "sw", ["en", "sw"])
    assert set(pooled.documents) == {"c1@en", "c2@en", "c1@sw", "c2@sw"}
    assert pooled.qrels == {"q1": {"c2@en": 1, "c2@sw": 1}}
    assert pooled.document_languages == ("en", "sw")


def test_irds_missing_gives_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "ir_datasets", None)
    with pytest.raises(ImportError, match="pip install ir_datasets"):
        load_irds("wikiclir/sw")


def test_irds_adapter_with_a_stand_in_module(monkeypatch):
    from collections import namedtuple
    from types import SimpleNamespace

    TopicRecord = namedtuple("TopicRecord", "query_id title first_sent")
    DocRecord = namedtuple("DocRecord", "doc_id title text")
    QrelRecord = namedtuple("QrelRecord", "query_id doc_id relevance iteration")
    dataset = SimpleNamespace(
        queries_iter=lambda: iter([TopicRecord("12", "Anarchism", "Anarchism is ...")]),
        docs_iter=lambda: iter([DocRecord("1", "Anarchismus", "Anarchismus ist ...")]),
        qrels_iter=lambda: iter([QrelRecord("12", "1", 2, "Q0")]),
        queries_lang=lambda: "en",
        docs_lang=lambda: "de",
    )
    monkeypatch.setitem(sys.modules, "ir_datasets", SimpleNamespace(load=lambda name: dataset))
    collection = load_irds("wikiclir/de", query_field="title")
    assert collection.queries["12"] == Query("12", "Anarchism", "en")
    assert collection.documents["1"] == Document("1", "Anarchismus ist ...", "de", "Anarchismus")
    assert collection.qrels == {"12": {"1": 2}}
