"""Recipe: a multi-parallel XQuAD-R-style set (LAReQA, Roy et al. 2020) for mono-, cross- and multilingual retrieval.

For each held-out split, under ``<out>/xquadr/<split>/`` (layout of :mod:`optical.data.xquadr`)::

    queries/<code>.tsv      qid<TAB>text     the split's query verses, in every language (en, sw, ...)
    candidates/<code>.tsv   cid<TAB>text     every other verse of the split's books, in every language
    qrels.tsv               qid 0 cid 1      shared by all languages
    manifest.json

Every query and every candidate exists in each language under the same id (the verse id), so
queries in X can be run against candidates in X (monolingual), in Y (cross-lingual) or in all
languages pooled (LAReQA's setting: all translations of a relevant candidate are relevant).  A
candidate is relevant when it is cross-referenced with the query verse (OpenBible weight >=
``min_weight``, either direction); query verses are not candidates.

Load with ``optical.data.load_xquadr(root, "sw", ["en", "sw", "fr"])``.
"""

from __future__ import annotations

from pathlib import Path

from data_recipes._common import write_manifest
from data_recipes.corpus import BibleCorpus, print_table, staged_directory
from optical.data import Document, Query, write_documents_tsv, write_qrels, write_queries_tsv
from optical.data.xquadr import xquadr_paths

LAYOUT = "multi-parallel queries/<code>.tsv, candidates/<code>.tsv, shared TREC qrels.tsv (optical.data.xquadr)"


def build_xquadr(corpus: BibleCorpus, split: str) -> Path:
    """Write the XQuAD-R-style set of ``split`` (``"dev"`` or ``"test"``); return its root."""
    final = corpus.config.output_root() / "xquadr" / split
    queries = corpus.queries(split)
    chosen = set(queries)
    candidates = [u.uid for u in corpus.units[split] if u.uid not in chosen]
    members = set(candidates)
    qrels = {qid: dict.fromkeys(corpus.neighbours(qid, members), 1) for qid in queries}
    counts: dict[str, dict[str, int | float]] = {}
    with staged_directory(final) as out:
        for lang in corpus.all_langs:
            paths = xquadr_paths(out, lang)
            texts = corpus.unit_texts[lang]
            counts[lang] = {
                "queries": write_queries_tsv(paths.queries, (Query(q, texts[q], lang) for q in queries)),
                "candidates": write_documents_tsv(paths.candidates, (Document(c, texts[c], lang) for c in candidates)),
            }
        judged = write_qrels(xquadr_paths(out, "en").qrels, qrels)
        counts["all"] = {"qrels": judged, "relevant_per_query": round(judged / max(len(queries), 1), 2)}
        manifest = corpus.manifest_base(f"xquadr/{split}", LAYOUT)
        manifest["counts"] = counts
        manifest["alignment_train_dev_test"] = corpus.unit_stats.as_dict()
        manifest["cross_references"] = corpus.crossref_stats.as_dict()
        write_manifest(out, manifest)
    print_table(f"xquadr/{split} -> {final}", counts)
    return final
