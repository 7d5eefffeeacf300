from __future__ import annotations

import pytest

from optical.data import (
    BitextPair,
    DataFormatError,
    DataFormatWarning,
    read_bitext_jsonl,
    read_bitext_moses,
    read_bitext_tsv,
    write_bitext_jsonl,
    write_bitext_moses,
    write_bitext_tsv,
)

PAIRS = [
    BitextPair("In the beginning was the Word.", "Hapo mwanzo kulikuwako Neno.", "en", "sw", "JHN.1.1"),
    BitextPair("Jesus wept.", "Yesu akalia machozi.", "en", "sw", "JHN.11.35"),
]


def write(tmp_path, name, text: str | bytes):
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


def test_tsv(tmp_path):
    path = write(tmp_path, "en-sw.tsv", "Jesus wept.\tYesu akalia machozi.\r\nHello\tHabari\n")
    pairs = list(read_bitext_tsv(path, "en", "sw"))
    assert pairs == [
        BitextPair("Jesus wept.", "Yesu akalia machozi.", "en", "sw"),
        BitextPair("Hello", "Habari", "en", "sw"),
    ]


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        (b"a\tb\nc\n", 2, "expected 2 tab-separated columns"),
        (b"a\tb\nc\td\te\n", 2, "expected 2"),
        (b"a\tb\n \td\n", 2, "empty source text"),
        (b"a\tb\nc\t\n", 2, "empty target text"),
        (b"a\tb\n\n", 2, "expected 2"),
        (b"a\tb\nc\xe9\td\n", 2, "invalid UTF-8"),
    ],
)
def test_tsv_bad_lines(tmp_path, text, line, reason):
    path = write(tmp_path, "bad.tsv", text)
    with pytest.raises(DataFormatError, match=reason) as caught:
        list(read_bitext_tsv(path, "en", "sw"))
    assert caught.value.path == path and caught.value.line_number == line


def test_tsv_skip(tmp_path):
    path = write(tmp_path, "bad.tsv", b"a\tb\nbroken\nc\xe9\td\ne\tf\n")
    with pytest.warns(DataFormatWarning, match=r"skipped 2 .* first at line 2"):
        pairs = list(read_bitext_tsv(path, "en", "sw", on_error="skip"))
    assert [(p.src, p.tgt) for p in pairs] == [("a", "b"), ("e", "f")]


def test_tsv_with_ids_stays_aligned_when_skipping(tmp_path):
    path = write(tmp_path, "p.tsv", b"a\tb\n\xff\tx\ne\tf\n")
    ids = write(tmp_path, "p.ids", "v1\nv2\nv3\n")
    with pytest.warns(DataFormatWarning):
        pairs = list(read_bitext_tsv(path, "en", "sw", ids_path=ids, on_error="skip"))
    assert [p.pair_id for p in pairs] == ["v1", "v3"]


def test_moses(tmp_path):
    src = write(tmp_path, "c.en", "Jesus wept.\nHello\n")
    tgt = write(tmp_path, "c.sw", "Yesu akalia machozi.\nHabari")  # no final newline
    assert [(p.src, p.tgt, p.src_lang, p.tgt_lang) for p in read_bitext_moses(src, tgt, "en", "sw")] == [
        ("Jesus wept.", "Yesu akalia machozi.", "en", "sw"),
        ("Hello", "Habari", "en", "sw"),
    ]


def test_moses_different_line_counts_fail_before_any_pair(tmp_path):
    src = write(tmp_path, "c.en", "a\nb\nc\n")
    tgt = write(tmp_path, "c.sw", "x\ny\n")
    with pytest.raises(DataFormatError, match=r"c\.en, line 3: line-aligned files differ in length") as caught:
        read_bitext_moses(src, tgt, "en", "sw")  # checked at call time, before any pair
    assert "has 3" in str(caught.value) and "has 2" in str(caught.value)


def test_moses_different_line_counts_skip(tmp_path):
    src = write(tmp_path, "c.en", "a\nb\nc\n")
    tgt = write(tmp_path, "c.sw", "x\ny\n")
    with pytest.warns(DataFormatWarning, match=r"c\.en: skipped 1"):
        assert len(list(read_bitext_moses(src, tgt, "en", "sw", on_error="skip"))) == 2


def test_moses_empty_line_names_its_file(tmp_path):
    src = write(tmp_path, "c.en", "a\nb\n")
    tgt = write(tmp_path, "c.sw", "x\n\n")
    with pytest.raises(DataFormatError, match=r"c\.sw, line 2: empty target text"):
        list(read_bitext_moses(src, tgt, "en", "sw"))


def test_moses_bad_utf8_names_its_file(tmp_path):
    src = write(tmp_path, "c.en", "a\nb\n")
    tgt = write(tmp_path, "c.sw", b"x\n\xc3\x28\n")
    with pytest.raises(DataFormatError, match=r"c\.sw, line 2: invalid UTF-8"):
        list(read_bitext_moses(src, tgt, "en", "sw"))


def test_jsonl(tmp_path):
    path = write(
        tmp_path,
        "b.jsonl",
        '{"src": "Jesus wept.", "tgt": "Yesu akalia machozi.", "id": 7}\n\n'
        '{"src": "Hi", "tgt": "Salut", "src_lang": "en", "tgt_lang": "fr"}\n',
    )
    pairs = list(read_bitext_jsonl(path, src_lang="en", tgt_lang="sw"))
    assert pairs == [
        BitextPair("Jesus wept.", "Yesu akalia machozi.", "en", "sw", "7"),
        BitextPair("Hi", "Salut", "en", "fr"),
    ]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('{"src": "a", "tgt": ', "invalid JSON"),
        ('["a", "b"]', "JSON object"),
        ('{"src": "a"}', "must be strings"),
        ('{"src": "a", "tgt": ""}', "empty target text"),
        ('{"src": "a", "tgt": "b", "src_lang": "en"}', "no language code"),
    ],
)
def test_jsonl_bad_lines(tmp_path, line, reason):
    path = write(tmp_path, "b.jsonl", '{"src": "x", "tgt": "y", "src_lang": "en", "tgt_lang": "sw"}\n' + line + "\n")
    with pytest.raises(DataFormatError, match=reason) as caught:
        list(read_bitext_jsonl(path))
    assert caught.value.line_number == 2


def test_round_trips(tmp_path):
    write_bitext_tsv(tmp_path / "p.tsv", PAIRS, ids_path=tmp_path / "p.ids")
    assert list(read_bitext_tsv(tmp_path / "p.tsv", "en", "sw", ids_path=tmp_path / "p.ids")) == PAIRS
    write_bitext_moses(tmp_path / "p.en", tmp_path / "p.sw", PAIRS, ids_path=tmp_path / "m.ids")
    assert (
        list(read_bitext_moses(tmp_path / "p.en", tmp_path / "p.sw", "en", "sw", ids_path=tmp_path / "m.ids")) == PAIRS
    )
    write_bitext_jsonl(tmp_path / "p.jsonl.gz", PAIRS)
    assert list(read_bitext_jsonl(tmp_path / "p.jsonl.gz")) == PAIRS


def test_writers_refuse_what_would_break_the_format(tmp_path):
    with pytest.raises(ValueError, match="tab or a line break"):
        write_bitext_tsv(tmp_path / "p.tsv", [BitextPair("a\tb", "c", "en", "sw")])
    with pytest.raises(ValueError, match="empty"):
        write_bitext_moses(tmp_path / "a", tmp_path / "b", [BitextPair("a", " ", "en", "sw")])
