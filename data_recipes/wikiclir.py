"""Recipe: a WikiCLIR-style collection, direction X -> English, in WikiCLIR's exact layout.

For each held-out split (``dev``, ``test``), under ``<out>/wikiclir/<split>/``::

    wiki-clir/english/wiki_en.documents     doc_id<TAB>title<TAB>text: every English (WEB) unit
                                            of the split's books; title = its reference ("John 3:16")
    wiki-clir/<language>/wiki_<x>.queries   query_id<TAB>title<TAB>first_sent: the query units in X
    wiki-clir/<language>/<x>2en.rel         qid docid relevance (3 columns)
    wiki-clir/english/wiki_en.queries       the same queries in a second English version (KJV by
                                            default): the English-query ceiling; a query whose
                                            verses that version lacks is left out (counted)
    manifest.json

The mapping onto WikiCLIR (Sasaki et al. 2018), roles swapped because our queries are the
foreign side (see :mod:`optical.data.wikiclir`, ``direction="x2en"``):

- an article pair (English article, its language-X mate) <-> one verse in X and in English;
- the English queries file <-> one queries file per language X (WikiCLIR's single English file
  cannot hold several query languages);
- relevance 2 (the cross-lingual mate) <-> the same verse in English (docid == qid);
- relevance 1 (articles linking to and linked by the mate) <-> English verses of the split
  cross-referenced with the query verse, in either direction, with OpenBible weight >=
  ``min_weight`` (WikiCLIR asks for links both ways; OpenBible links are mostly one-way, so
  either direction counts).
- Query fields: ``title`` and ``first_sent`` both hold the verse text (a verse is one sentence;
  a reference as title would be unanswerable).  Ids are verse ids, the same in every language,
  so every query language shares one set of judgments.

Load with ``optical.data.load_wikiclir(root, "sw", direction="x2en")``.
"""

from __future__ import annotations

from pathlib import Path

from data_recipes._common import write_manifest
from data_recipes.bible import reference
from data_recipes.corpus import BibleCorpus, print_table, staged_directory
from optical.data import Document, write_documents_tsv, write_qrels
from optical.data.wikiclir import WikiClirTopic, wikiclir_paths, write_wikiclir_topics

LAYOUT = "WikiCLIR (Sasaki et al. 2018), direction X -> English (optical.data.wikiclir, direction='x2en')"


def build_wikiclir(corpus: BibleCorpus, split: str) -> Path:
    """Write the WikiCLIR-style collection of ``split`` (``"dev"`` or ``"test"``); return its root."""
    final = corpus.config.output_root() / "wikiclir" / split
    units = corpus.units[split]
    members = {u.uid for u in units}
    queries = corpus.queries(split)
    qrels = {qid: {qid: 2, **dict.fromkeys(corpus.neighbours(qid, members), 1)} for qid in queries}
    english = corpus.unit_texts["en"]
    counts: dict[str, dict[str, int | float]] = {}
    with staged_directory(final) as out:
        base = out / "wiki-clir"
        for lang in corpus.config.langs:
            paths = wikiclir_paths(base, lang, "x2en")
            texts = corpus.unit_texts[lang]
            write_wikiclir_topics(paths.queries, (WikiClirTopic(q, texts[q], texts[q], lang) for q in queries))
            judgments = write_qrels(paths.qrels, qrels, columns=3, separator="\t")
            counts[lang] = {
                "queries": len(queries),
                "qrels": judgments,
                "grade1_per_query": round((judgments - len(queries)) / max(len(queries), 1), 2),
            }
        if corpus.english_queries is not None:
            by_uid = {u.uid: u for u in units}
            kjv = corpus.english_queries.texts
            topics = [WikiClirTopic(q, text, text, "en") for q in queries
                      if all(v in kjv for v in by_uid[q].verses)
                      for text in [" ".join(kjv[v] for v in by_uid[q].verses)]]
            write_wikiclir_topics(base / "english" / "wiki_en.queries", topics)
            counts["en"] = {"queries": len(topics), "queries_left_out": len(queries) - len(topics)}
        documents = (Document(u.uid, english[u.uid], "en", reference(u, corpus.english_book_names)) for u in units)
        counts.setdefault("en", {})["documents"] = write_documents_tsv(
            wikiclir_paths(base, "en", "x2en").documents, documents, titled=True
        )
        manifest = corpus.manifest_base(f"wikiclir/{split}", LAYOUT)
        manifest["counts"] = counts
        manifest["relevance"] = {
            "2": "the query verse itself in English (cross-lingual mate)",
            "1": "English verses of the split cross-referenced with it "
            f"(OpenBible weight >= {corpus.config.min_weight}, either direction)",
        }
        manifest["alignment_train_dev_test"] = corpus.unit_stats.as_dict()
        manifest["cross_references"] = corpus.crossref_stats.as_dict()
        write_manifest(out, manifest)
    print_table(f"wikiclir/{split} -> {final}", counts)
    return final
