"""TREC topic files (SGML and TSV) and "topics + qrels + documents" folders, from hand-written files."""

from __future__ import annotations

import pytest

from optical.data import DataFormatError, DataFormatWarning, Document, Query
from optical.data.layouts import detect_layout
from optical.data.topics import Topic, load_trec_collection, read_topics, trec_paths

# TREC ad hoc style: no closing tags, labelled fields, text over several lines.
TREC = """<top>
<num> Number: 401
<title> foreign minorities, Germany

<desc> Description:
What language and cultural differences impede the integration
of foreign minorities in Germany?

<narr> Narrative:
A relevant document will focus on the causes of the lack of
integration in a significant way.
</top>

<top>
<num> Number: 402
<title> Topic: behavioral genetics
<desc> Description:
What is happening in the field of behavioral genetics?
<narr> Narrative:
Relevant documents report on the study of inherited behaviour.
</top>
"""

# CLEF style: closing tags, language-prefixed tags, several fields on one line.
CLEF = """<topics>
<top>
<num>C041</num>
<SW-title>Ukimwi Afrika</SW-title>
<SW-desc>Tafuta taarifa kuhusu
ukimwi barani Afrika.</SW-desc>
<SW-narr>Nyaraka zinazofaa zinaeleza.</SW-narr>
</top>
<top> <num> C042 </num> <SW-title> Kombe la dunia </SW-title> </top>
</topics>
"""


def put(path, text: str):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_trec_sgml_matches_ir_datasets_parser(tmp_path):
    ir_datasets = pytest.importorskip("ir_datasets")
    from ir_datasets.formats import TrecQueries
    from ir_datasets.util import StringFile

    path = put(tmp_path / "topics.401-402.txt", TREC)
    topics = list(read_topics(path, "en"))
    reference = list(TrecQueries(StringFile(TREC.encode())).queries_iter())
    assert ir_datasets is not None and len(reference) == 2
    for topic, expected in zip(topics, reference, strict=True):
        # ir_datasets keeps line breaks inside a field; both collapse to the same words.
        assert topic.qid == expected.query_id
        assert topic.title == " ".join(expected.title.split())
        assert topic.desc == " ".join(expected.description.split())
        assert topic.narr == " ".join(expected.narrative.split())
    assert topics[1].title == "behavioral genetics"
    assert topics[0].query("title+desc") == Query(
        "401", "foreign minorities, Germany What language and cultural differences impede the integration "
        "of foreign minorities in Germany?", "en")


def test_clef_sgml_with_closing_and_language_prefixed_tags(tmp_path):
    topics = list(read_topics(put(tmp_path / "topics.sw.xml", CLEF), "sw"))
    assert topics == [
        Topic("C041", "Ukimwi Afrika", "Tafuta taarifa kuhusu ukimwi barani Afrika.",
              "Nyaraka zinazofaa zinaeleza.", "sw"),
        Topic("C042", "Kombe la dunia", "", "", "sw"),
    ]
    assert topics[1].query("desc").text == ""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("q1\tukimwi afrika\nq2\tkombe la dunia\n",
         [Topic("q1", "ukimwi afrika", "", "", "so"), Topic("q2", "kombe la dunia", "", "", "so")]),
        ("query_id\ttitle\tdescription\nq1\tukimwi\tukimwi barani Afrika\n",
         [Topic("q1", "ukimwi", "ukimwi barani Afrika", "", "so")]),
    ],
)
def test_tsv_topics(tmp_path, text, expected):
    assert list(read_topics(put(tmp_path / "queries.tsv", text), "so")) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<top>\n<title> no number\n</top>\n", r"line 1: empty topic number in <num>"),
        ("<top>\n<num> 7\n</top>\n", r"line 1: topic 7 has neither <title> nor <desc> text"),
        ("<top>\n<num> 7\n<title> a\n</top>\n<top>\n<num> 7\n<title> b\n</top>\n",
         r"line 5: topic 7 appears twice \(first at line 1\)"),
        ("<top>\n<num> 7\n<title> a\n", r"line 1: the last topic has no </top>"),
        ("q1\ta\nq2\ta\tb\n", r"line 2: expected 2 tab-separated columns"),
    ],
)
def test_bad_topics_name_the_file_and_line(tmp_path, text, message):
    path = put(tmp_path / "topics.txt", text)
    with pytest.raises(DataFormatError, match=message):
        list(read_topics(path, "en"))


def test_skip_keeps_the_good_topics(tmp_path):
    path = put(tmp_path / "topics.txt", "<top>\n<num> 7\n</top>\n<top>\n<num> 8\n<title> b\n</top>\n")
    with pytest.warns(DataFormatWarning, match="skipped 1"):
        assert [t.qid for t in read_topics(path, "en", on_error="skip")] == ["8"]


def test_topics_qrels_and_documents_folder(tmp_path):
    root = tmp_path / "clef-sw"
    put(root / "topics.sw.txt", CLEF)
    put(root / "qrels.txt", "C041 0 LA01 1\nC041 0 LA02 0\nC042 0 LA03 2\n")
    put(root / "docs" / "a.tsv", "LA01\tAids in Africa: a report\nLA02\tFootball results\n")
    put(root / "docs" / "b.tsv", "LA03\tWorld Cup\tThe world cup final\n")
    assert detect_layout(root) == "trec"
    paths = trec_paths(root)
    assert paths.topics.name == "topics.sw.txt" and len(paths.documents) == 2
    collection = load_trec_collection(root, "sw", topic_field="title+desc")
    assert collection.queries["C041"] == Query(
        "C041", "Ukimwi Afrika Tafuta taarifa kuhusu ukimwi barani Afrika.", "sw")
    assert collection.documents["LA03"] == Document("LA03", "The world cup final", "en", "World Cup")
    assert collection.qrels == {"C041": {"LA01": 1, "LA02": 0}, "C042": {"LA03": 2}}


def test_incomplete_trec_folders_say_what_is_missing(tmp_path):
    root = tmp_path / "x"
    put(root / "topics.txt", CLEF)
    with pytest.raises(ValueError, match="no qrels file"):
        trec_paths(root)
    put(root / "qrels.txt", "C041 0 LA01 1\n")
    with pytest.raises(ValueError, match="no documents"):
        trec_paths(root)
    put(root / "docs.tsv", "LA01\ttext\n")
    put(root / "queries.tsv", "C041\ttitle\n")
    with pytest.raises(ValueError, match=r"2 candidate \(queries.tsv, topics.txt\) topics file"):
        trec_paths(root)
