"""Recipe: an mMARCO-style passage-ranking set, in mMARCO's exact file layout.

Under ``<out>/mmarco/``::

    <language>_collection.tsv         pid<TAB>passage        (english, swahili, ...: same pids)
    <language>_queries.<split>.tsv    qid<TAB>query          (split: train, dev, test; same qids)
    qrels.<split>.tsv                 qid<TAB>0<TAB>pid<TAB>1  (MS MARCO format, one file for all languages)
    triples.train.ids.tsv             qid<TAB>pos_pid<TAB>neg_pid
    passages.verses.tsv               pid<TAB>the verse ids the passage holds (space-separated)
    queries.verses.tsv                qid<TAB>verse id<TAB>split
    manifest.json

- Queries: a verse of the split's books (the queries shared with the WikiCLIR- and
  XQuAD-R-style sets), in every language.
- Passages: the other verses of the train, dev and test books, ``window`` consecutive ones at a
  time within a chapter.  Query verses are in no passage, so a query never finds itself.
- Relevance (passage retrieval by topic, as in mMARCO queries and passages share a language):
  a passage is relevant if it holds a verse cross-referenced with the query verse (OpenBible
  weight >= ``min_weight``, either direction).  Train judgments only use train passages, so
  training never sees a held-out passage as a positive; dev and test judge every passage.
- Triples: for each train query and each of its positives, ``negatives`` negatives drawn with
  the seed from the train passages not relevant to it (uniformly; hard negatives come later).
- Ids are numbers, as in MS MARCO: verse ``BOOK.c.v`` -> ``book*1000000 + c*1000 + v``
  (``MRK.3.16`` -> 41003016), a passage takes its first verse's number; the ``*.verses.tsv``
  files record the mapping.

Load with ``optical.data.load_mmarco(root, "sw", "dev")`` (``doc_lang="en"`` for cross-lingual).
"""

from __future__ import annotations

import random
from pathlib import Path

from data_recipes._common import atomic_write, write_manifest
from data_recipes.bible import Unit, first_verse, verse_number
from data_recipes.corpus import BibleCorpus, print_table, staged_directory
from data_recipes.splits import SPLIT_NAMES
from optical.data import Document, Query, Triple, write_documents_tsv, write_qrels, write_queries_tsv, write_triples
from optical.data.languages import language_name

LAYOUT = "mMARCO (Bonifacio et al. 2021): per-language collection and queries, shared MS MARCO qrels and triples"


def passages_from(units: list[Unit], skip: set[str], window: int) -> list[list[Unit]]:
    """Consecutive units of one chapter, ``window`` at a time, leaving out ``skip``."""
    passages: list[list[Unit]] = []
    current: list[Unit] = []
    for unit in units:
        if unit.uid in skip:
            continue
        if current and (len(current) == window or current[0].chapter != unit.chapter):
            passages.append(current)
            current = []
        current.append(unit)
    if current:
        passages.append(current)
    return passages


def build_mmarco(corpus: BibleCorpus) -> Path:
    """Write the mMARCO-style set (all splits, all languages) and its manifest; return its root."""
    config = corpus.config
    final = config.output_root() / "mmarco"
    queries = {split: corpus.queries(split) for split in SPLIT_NAMES}
    query_units = {uid for split in SPLIT_NAMES for uid in queries[split]}
    passages: dict[str, list[Unit]] = {}
    passage_split: dict[str, str] = {}
    passage_of: dict[str, str] = {}
    for split in SPLIT_NAMES:
        for group in passages_from(corpus.units[split], query_units, config.window):
            pid = str(verse_number(group[0].first))
            passages[pid] = group
            passage_split[pid] = split
            for unit in group:
                passage_of[unit.uid] = pid

    qrels: dict[str, dict[str, dict[str, int]]] = {}
    for split in SPLIT_NAMES:
        qrels[split] = {}
        for uid in queries[split]:
            pids = {passage_of[n] for n in corpus.graph[uid] if n in passage_of}
            if split == "train":
                pids = {p for p in pids if passage_split[p] == "train"}
            qrels[split][str(verse_number(first_verse(uid)))] = dict.fromkeys(sorted(pids, key=int), 1)

    rng = random.Random(f"{config.seed}:triples")
    train_pids = [p for p in passages if passage_split[p] == "train"]
    triples: list[Triple] = []
    for qid, positives in qrels["train"].items():
        candidates = [p for p in train_pids if p not in positives]
        for pos in positives:
            for neg in rng.sample(candidates, min(config.negatives, len(candidates))):
                triples.append(Triple(qid, pos, neg))

    counts: dict[str, dict[str, int | float]] = {}
    with staged_directory(final) as out:
        for lang in corpus.all_langs:
            name = language_name(lang)
            texts = corpus.unit_texts[lang]
            documents = (Document(pid, " ".join(texts[u.uid] for u in group), lang) for pid, group in passages.items())
            counts[lang] = {"passages": write_documents_tsv(out / f"{name}_collection.tsv", documents)}
            for split in SPLIT_NAMES:
                rows = (Query(str(verse_number(first_verse(uid))), texts[uid], lang) for uid in queries[split])
                counts[lang][f"{split}_queries"] = write_queries_tsv(out / f"{name}_queries.{split}.tsv", rows)
        shared: dict[str, int | float] = {}
        for split in SPLIT_NAMES:
            shared[f"{split}_qrels"] = write_qrels(out / f"qrels.{split}.tsv", qrels[split], separator="\t")
        shared["train_triples"] = write_triples(out / "triples.train.ids.tsv", triples)
        counts["all"] = shared
        with atomic_write(out / "passages.verses.tsv") as handle:
            for pid, group in passages.items():
                handle.write(f"{pid}\t{' '.join(v for u in group for v in u.verses)}\n")
        with atomic_write(out / "queries.verses.tsv") as handle:
            for split in SPLIT_NAMES:
                for uid in queries[split]:
                    handle.write(f"{verse_number(first_verse(uid))}\t{uid}\t{split}\n")
        manifest = corpus.manifest_base("mmarco", LAYOUT)
        manifest["counts"] = counts
        manifest["passages_per_split"] = {s: sum(v == s for v in passage_split.values()) for s in SPLIT_NAMES}
        manifest["relevant_per_query"] = {
            s: round(sum(len(j) for j in qrels[s].values()) / max(len(qrels[s]), 1), 2) for s in SPLIT_NAMES
        }
        manifest["alignment_train_dev_test"] = corpus.unit_stats.as_dict()
        manifest["cross_references"] = corpus.crossref_stats.as_dict()
        write_manifest(out, manifest)
    print_table(f"mmarco -> {final}", counts)
    return final
