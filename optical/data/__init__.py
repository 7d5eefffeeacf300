"""Data layer: typed records with language codes, streaming readers and writers of CLIR formats.

- :mod:`~optical.data.records`: :class:`Query`, :class:`Document`, :class:`Qrel`,
  :class:`BitextPair`, :class:`RunEntry`, :class:`Triple`.
- :mod:`~optical.data.errors`: :class:`DataFormatError` (names file and line) and the
  ``on_error="raise" | "skip"`` policy every reader takes.
- :mod:`~optical.data.bitext`: TSV, Moses (line-aligned pair of files) and JSONL bitext.
- :mod:`~optical.data.trec`: qrels (4 and 3 columns) and runs (strictly decreasing scores).
- :mod:`~optical.data.wikiclir`, :mod:`~optical.data.mmarco`, :mod:`~optical.data.xquadr`:
  collection layouts, each loaded into a :class:`Collection`; mMARCO training triplets with their
  texts (:func:`open_training`).
- :mod:`~optical.data.topics`: TREC topic files (SGML and TSV) and "topics + qrels + documents"
  folders (CLEF, MATERIAL, CIRAL).
- :mod:`~optical.data.layouts`: which layout a folder holds (:func:`detect_layout`).
- :mod:`~optical.data.dictionary`: bilingual word lists and word-by-word query translation.
- :mod:`~optical.data.irds`: any ``ir_datasets`` id, when that optional package is installed:
  collections, bitext paired by shared ids (:func:`open_bitext`), training triplets.

This layer imports nothing from the model, training or evaluation layers (no torch).
"""

from __future__ import annotations

from optical.data.bitext import (
    read_bitext_jsonl,
    read_bitext_moses,
    read_bitext_tsv,
    write_bitext_jsonl,
    write_bitext_moses,
    write_bitext_tsv,
)
from optical.data.collection import (
    Collection,
    read_documents_tsv,
    read_queries_tsv,
    read_tsv_rows,
    write_documents_tsv,
    write_queries_tsv,
)
from optical.data.dictionary import read_dictionary, translate
from optical.data.errors import DataFormatError, DataFormatWarning, OnError
from optical.data.irds import load_irds, open_bitext
from optical.data.languages import LANGUAGE_NAMES, language_name
from optical.data.layouts import LAYOUTS, detect_layout
from optical.data.mmarco import (
    MmarcoLayout,
    TrainingTexts,
    load_mmarco,
    load_mmarco_training,
    load_mmarco_triples,
    mmarco_layout,
    open_training,
    read_triples,
    write_triples,
)
from optical.data.records import BitextPair, Document, Qrel, Query, RunEntry, Triple
from optical.data.topics import Topic, load_trec_collection, read_topics, trec_paths
from optical.data.trec import (
    Qrels,
    Run,
    order_ranking,
    read_qrels,
    read_qrels_records,
    read_trec_run,
    read_trec_run_records,
    write_qrels,
    write_trec_run,
)
from optical.data.wikiclir import (
    WikiClirTopic,
    load_wikiclir,
    read_wikiclir_documents,
    read_wikiclir_queries,
    read_wikiclir_topics,
    wikiclir_paths,
    write_wikiclir_topics,
)
from optical.data.xquadr import load_xquadr, xquadr_languages, xquadr_paths

__all__ = [
    "LANGUAGE_NAMES",
    "LAYOUTS",
    "BitextPair",
    "Collection",
    "DataFormatError",
    "DataFormatWarning",
    "Document",
    "MmarcoLayout",
    "OnError",
    "Qrel",
    "Qrels",
    "Query",
    "Run",
    "RunEntry",
    "Topic",
    "TrainingTexts",
    "Triple",
    "WikiClirTopic",
    "detect_layout",
    "language_name",
    "load_irds",
    "load_mmarco",
    "load_mmarco_training",
    "load_mmarco_triples",
    "load_trec_collection",
    "load_wikiclir",
    "load_xquadr",
    "mmarco_layout",
    "open_bitext",
    "open_training",
    "order_ranking",
    "read_bitext_jsonl",
    "read_bitext_moses",
    "read_bitext_tsv",
    "read_dictionary",
    "read_documents_tsv",
    "read_qrels",
    "read_qrels_records",
    "read_queries_tsv",
    "read_topics",
    "read_trec_run",
    "read_trec_run_records",
    "read_triples",
    "read_tsv_rows",
    "read_wikiclir_documents",
    "read_wikiclir_queries",
    "read_wikiclir_topics",
    "translate",
    "trec_paths",
    "wikiclir_paths",
    "write_bitext_jsonl",
    "write_bitext_moses",
    "write_bitext_tsv",
    "write_documents_tsv",
    "write_qrels",
    "write_queries_tsv",
    "write_trec_run",
    "write_triples",
    "write_wikiclir_topics",
    "xquadr_languages",
    "xquadr_paths",
]
