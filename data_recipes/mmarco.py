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
- Triples: for each train query and each of its positives, ``negatives`` negatives from the
  train passages: by default hard negatives, drawn from the ``mining_depth`` best BM25
  passages for the English query among those holding no verse cross-referenced with it at any
  positive weight (topped up uniformly when BM25 matches too few); ``hard_negatives="random"``
  draws them uniformly from the non-relevant passages.  The manifest records how many came from
  BM25 and their mean rank.
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
from optical.eval.bm25 import BM25Index
from optical.eval.mining import MiningStats, mine_negatives

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


def _training_triples(
    corpus: BibleCorpus,
    query_uids: list[str],
    train_qrels: dict[str, dict[str, int]],
    passages: dict[str, list[Unit]],
    train_pids: list[str],
    passage_of: dict[str, str],
) -> tuple[list[Triple], MiningStats | None]:
    config = corpus.config
    if not config.negatives:
        return [], None
    if config.hard_negatives == "random":
        rng = random.Random(f"{config.seed}:triples")
        triples: list[Triple] = []
        for qid, positives in train_qrels.items():
            candidates = [p for p in train_pids if p not in positives]
            for pos in positives:
                for neg in rng.sample(candidates, min(config.negatives, len(candidates))):
                    triples.append(Triple(qid, pos, neg))
        return triples, None
    english = corpus.unit_texts["en"]
    index = BM25Index(train_pids, [" ".join(english[u.uid] for u in passages[p]) for p in train_pids])
    qid_of = {uid: str(verse_number(first_verse(uid))) for uid in query_uids}
    run = index.search({qid_of[uid]: english[uid] for uid in query_uids}, k=len(train_pids))
    exclude = {qid_of[uid]: {passage_of[n] for n in corpus.weak_graph.get(uid, {}) if n in passage_of}
               for uid in query_uids}
    mined, stats = mine_negatives(run, train_qrels, per_positive=config.negatives, depth=config.mining_depth,
                                  exclude=exclude, pool=train_pids, seed=config.seed)
    return [Triple(*triplet) for triplet in mined], stats


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

    train_pids = [p for p in passages if passage_split[p] == "train"]
    triples, mining = _training_triples(corpus, queries["train"], qrels["train"], passages, train_pids, passage_of)

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
        if mining is not None:
            manifest["hard_negatives"] = {"ranker": "BM25 (k1=0.9, b=0.4) on the English texts",
                                          "depth": config.mining_depth, **mining.as_dict()}
        manifest["passages_per_split"] = {s: sum(v == s for v in passage_split.values()) for s in SPLIT_NAMES}
        manifest["relevant_per_query"] = {
            s: round(sum(len(j) for j in qrels[s].values()) / max(len(qrels[s]), 1), 2) for s in SPLIT_NAMES
        }
        manifest["alignment_train_dev_test"] = corpus.unit_stats.as_dict()
        manifest["cross_references"] = corpus.crossref_stats.as_dict()
        write_manifest(out, manifest)
    print_table(f"mmarco -> {final}", counts)
    return final
