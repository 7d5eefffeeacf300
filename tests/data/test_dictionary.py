"""Dictionary files and word-by-word translation (optical.data.dictionary)."""

from __future__ import annotations

import pytest

from optical.data import DataFormatError, DataFormatWarning, read_dictionary, translate
from optical.data.dictionary import lookup, tokenize_words
from optical.eval.bm25 import tokenize

GOOD = "nuru\tlight\ngiza\tdarkness\tdark\n\nng'ombe\tcow\tcattle\nagano jipya\tNew Testament\npokea\treceive\tget\n"


def write(tmp_path, text: str, name: str = "swh-eng.tsv"):
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


@pytest.fixture
def dictionary(tmp_path):
    return read_dictionary(write(tmp_path, GOOD))


def test_read_dictionary_keeps_order_and_all_translations(dictionary):
    assert dictionary == {
        "nuru": ["light"],
        "giza": ["darkness", "dark"],
        "ng'ombe": ["cow", "cattle"],
        "agano jipya": ["New Testament"],
        "pokea": ["receive", "get"],
    }
    assert list(dictionary) == ["nuru", "giza", "ng'ombe", "agano jipya", "pokea"]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("taa", "at least one tab-separated translation"),
        ("\tlamp", "empty headword"),
        ("Taa\tlamp", "not lowercase"),
        ("taa\t", "empty translation"),
        ("taa\tlamp ", "leading or trailing spaces"),
        ("nuru\tlamp", "appears twice"),
    ],
)
def test_malformed_line_names_file_and_line(tmp_path, line, reason):
    path = write(tmp_path, GOOD.replace("\n\n", f"\n{line}\n"))  # the bad line is line 3
    with pytest.raises(DataFormatError, match=reason) as caught:
        read_dictionary(path)
    assert str(caught.value).startswith(f"{path}, line 3:")
    assert caught.value.line_number == 3


def test_bad_utf8_is_malformed(tmp_path):
    path = tmp_path / "d.tsv"
    path.write_bytes(b"nuru\tlight\nt\xffa\tlamp\n")
    with pytest.raises(DataFormatError, match=r"line 2: invalid UTF-8"):
        read_dictionary(path)


def test_skip_mode_drops_bad_lines_and_warns_with_count(tmp_path):
    path = write(tmp_path, "taa\nnuru\tlight\nTaa\tlamp\ngiza\tdark\n")
    with pytest.warns(DataFormatWarning, match=r"skipped 2 malformed line\(s\); first at line 1"):
        result = read_dictionary(path, on_error="skip")
    assert result == {"nuru": ["light"], "giza": ["dark"]}


def test_unknown_policy_is_refused(tmp_path):
    with pytest.raises(ValueError, match="on_error"):
        read_dictionary(write(tmp_path, GOOD), on_error="ignore")


def test_tokenize_words_keeps_inner_apostrophes_and_matches_bm25_otherwise():
    assert tokenize_words("Ng’ombe, wa MUSA! yang'aa") == ["ng'ombe", "wa", "musa", "yang'aa"]
    text = "Huyo hakuwa ile nuru, bali alikuja: 3:16"
    assert tokenize_words(text) == tokenize(text)


def test_lookup_exact_then_longest_affix(dictionary):
    assert lookup("giza", dictionary) == ["darkness", "dark"]
    assert lookup("gizani", dictionary) == ["darkness", "dark"]  # prefix giza + locative -ni
    assert lookup("hawakumpokea", dictionary) == ["receive", "get"]  # suffix pokea
    assert lookup("nuruab", {"nurua": ["light"], "ruab": ["x"]}) == ["light"]  # the longer affix wins
    assert lookup("aurua", {"aur": ["a"], "urua": ["x"]}) == ["x"]  # a 3-letter prefix never matches
    assert lookup("kiza", {"kiz": ["x"], "iza": ["y"]}) == []
    assert lookup("abcdef", {"abcd": ["prefix"], "cdef": ["suffix"]}) == ["suffix"]  # tie: suffix


def test_translate_first_sense_keeps_unknown_words(dictionary):
    assert translate("Nayo nuru yang'aa gizani, wala giza", dictionary) == "nayo light yang'aa darkness wala darkness"


def test_translate_more_senses_and_drop_unknown(dictionary):
    result = translate("Musa alipokea ng'ombe gizani", dictionary, max_senses=2, keep_unknown=False)
    assert result == "receive get cow cattle darkness dark"


def test_translate_prefers_multiword_headwords(dictionary):
    assert translate("Agano Jipya nuru", dictionary) == "New Testament light"
    assert translate("agano nuru", dictionary) == "agano light"


def test_translate_rejects_zero_senses(dictionary):
    with pytest.raises(ValueError, match="max_senses"):
        translate("nuru", dictionary, max_senses=0)
