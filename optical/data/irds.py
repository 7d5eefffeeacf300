"""Any ``ir_datasets`` collection as optical records (optional: ``pip install ir_datasets``).

``ir_datasets`` is an extra, not a requirement; the functions here import it when called and,
if it is missing, raise ``ImportError`` with the exact install command.  Downloads, if any, are
done by ``ir_datasets`` itself (into ``$IR_DATASETS_HOME``, default ``~/.ir_datasets``).

On the command line an id is written ``irds:<id>``; ``{lang}`` in it stands for a language code,
so one spec names the same dataset in several languages (mMARCO v2 shares its ids across them):

- :func:`load_irds`: one collection (``optical evaluate --dataset irds:<id>``);
- :func:`irds_bitext`, :func:`open_bitext`: translation pairs from two datasets whose queries (or
  documents) share their ids, e.g. ``irds:mmarco/v2/{lang}/train`` for English-Swahili;
- :func:`load_irds_training`: training triplets (``docpairs``) with every language's texts, the
  shape :func:`~optical.data.mmarco.load_mmarco_training` returns.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

from optical.data.collection import Collection, collect_documents, collect_queries
from optical.data.errors import OnError
from optical.data.mmarco import TrainingTexts
from optical.data.records import BitextPair, Document, Qrel, Query
from optical.data.trec import qrels_from_records

IRDS_PREFIX = "irds:"

INSTALL_COMMAND = "pip install ir_datasets"


def _ir_datasets() -> Any:
    try:
        import ir_datasets
    except ImportError as error:
        raise ImportError(
            f"reading ir_datasets collections needs the optional package ir_datasets; install it with: "
            f"{INSTALL_COMMAND}"
        ) from error
    return ir_datasets


def _dataset(dataset_id: str) -> Any:
    return _ir_datasets().load(dataset_id)


def _lang(dataset: Any, method: str, lang: str | None) -> str:
    if lang is not None:
        return lang
    found = getattr(dataset, method, None)
    value = found() if callable(found) else None
    return value or "und"


def _text(record: Any, field: str | None) -> str:
    if field is not None:
        return str(getattr(record, field))
    if hasattr(record, "default_text"):
        return str(record.default_text())
    return str(record.text)


def irds_queries(dataset_id: str, *, field: str | None = None, lang: str | None = None) -> Iterator[Query]:
    """Stream the queries of ``dataset_id``; text from ``field``, else ``default_text()``, else ``.text``.

    ``lang`` overrides the dataset's ``queries_lang()`` (``"und"`` when neither is known).
    """
    dataset = _dataset(dataset_id)
    code = _lang(dataset, "queries_lang", lang)
    for query in dataset.queries_iter():
        yield Query(str(query.query_id), _text(query, field), code)


def irds_documents(dataset_id: str, *, field: str | None = None, lang: str | None = None) -> Iterator[Document]:
    """Stream the documents of ``dataset_id`` (with their ``title`` when the dataset has one)."""
    dataset = _dataset(dataset_id)
    code = _lang(dataset, "docs_lang", lang)
    for doc in dataset.docs_iter():
        yield Document(str(doc.doc_id), _text(doc, field), code, str(getattr(doc, "title", "") or ""))


def irds_qrels(dataset_id: str) -> Iterator[Qrel]:
    """Stream the judgments of ``dataset_id``."""
    for qrel in _dataset(dataset_id).qrels_iter():
        yield Qrel(str(qrel.query_id), str(qrel.doc_id), int(qrel.relevance))


def load_irds(
    dataset_id: str,
    *,
    query_field: str | None = None,
    doc_field: str | None = None,
    query_lang: str | None = None,
    doc_lang: str | None = None,
) -> Collection:
    """Load a whole ``ir_datasets`` collection into memory (mind the size of large ones).

    Raises
    ------
    ImportError
        When ``ir_datasets`` is not installed; the message gives ``pip install ir_datasets``.
    """
    return Collection(
        queries=collect_queries(irds_queries(dataset_id, field=query_field, lang=query_lang), source=dataset_id),
        documents=collect_documents(irds_documents(dataset_id, field=doc_field, lang=doc_lang), source=dataset_id),
        qrels=qrels_from_records(irds_qrels(dataset_id)),
        name=f"irds/{dataset_id}",
    )


def irds_id(spec: str, lang: str | None = None) -> str:
    """The ``ir_datasets`` id of ``irds:<id>`` (``{lang}`` replaced by ``lang``); ``ValueError`` otherwise."""
    if not spec.startswith(IRDS_PREFIX):
        raise ValueError(f"an ir_datasets id is written {IRDS_PREFIX}<id>, got {spec!r}")
    dataset_id = spec[len(IRDS_PREFIX):]
    if "{lang}" in dataset_id:
        if lang is None:
            raise ValueError(f"{spec}: {{lang}} needs a language code")
        dataset_id = dataset_id.replace("{lang}", lang)
    return dataset_id


def irds_bitext(
    src_id: str,
    tgt_id: str,
    src_lang: str,
    tgt_lang: str,
    *,
    kind: Literal["queries", "docs"] = "queries",
    field: str | None = None,
) -> Iterator[BitextPair]:
    """Translation pairs from two datasets whose queries (or documents) share their ids.

    Pairs follow the target dataset's order; ids present on one side only are left out.  The
    source side is held in memory (queries are small; for ``kind="docs"`` mind the size).
    """
    if kind not in ("queries", "docs"):
        raise ValueError(f"kind must be 'queries' or 'docs', got {kind!r}")
    read = irds_queries if kind == "queries" else irds_documents
    source = {_record_id(r): r.text for r in read(src_id, field=field, lang=src_lang)}
    for record in read(tgt_id, field=field, lang=tgt_lang):
        key = _record_id(record)
        if key in source and source[key].strip() and record.text.strip():
            yield BitextPair(source[key], record.text, src_lang, tgt_lang, key)


def _record_id(record: Query | Document) -> str:
    """The id of a query or a document."""
    return record.qid if isinstance(record, Query) else record.docid


def open_bitext(
    spec: str | Path, src_lang: str, tgt_lang: str, *, on_error: OnError = "raise"
) -> Iterator[BitextPair]:
    """Bitext from ir_datasets queries paired by id, a ``.jsonl`` file or a ``src<TAB>tgt`` file.

    The ir_datasets forms: ``irds:<id with {lang}>`` (the same dataset in both languages) or
    ``irds:<source id>,<target id>``.

    Examples
    --------
    ``open_bitext("irds:mmarco/v2/{lang}/train", "es", "pt")`` pairs mMARCO's Spanish and
    Portuguese training queries; ``open_bitext("irds:msmarco-passage/train,mmarco/v2/pt/train",
    "en", "pt")`` pairs MS MARCO's English queries with their Portuguese translations.
    """
    text = str(spec)
    if text.startswith(IRDS_PREFIX) and "," in text:
        src_id, tgt_id = text[len(IRDS_PREFIX):].split(",", 1)
        return irds_bitext(src_id, tgt_id, src_lang, tgt_lang)
    if text.startswith(IRDS_PREFIX):
        return irds_bitext(irds_id(text, src_lang), irds_id(text, tgt_lang), src_lang, tgt_lang)
    from optical.data.bitext import read_bitext_jsonl, read_bitext_tsv

    if text.endswith((".jsonl", ".jsonl.gz")):
        return read_bitext_jsonl(text, src_lang=src_lang, tgt_lang=tgt_lang, on_error=on_error)
    return read_bitext_tsv(text, src_lang, tgt_lang, on_error=on_error)


def load_irds_training(spec: str, langs: Sequence[str], *, limit: int | None = None) -> TrainingTexts:
    """Training triplets from the ``docpairs`` of ``irds:<id with {lang}>``, with each language's texts.

    The triplets come from the first language's dataset; every language's dataset must share its
    query and document ids (mMARCO v2 does).  Only the queries and passages that the kept
    triplets name are held, fetched through the dataset's docstore when it has one.

    Raises
    ------
    ValueError
        When no language is given, or the dataset has no docpairs.
    """
    if not langs:
        raise ValueError(f"{spec}: give the languages to train on")
    first = _dataset(irds_id(spec, langs[0]))
    if not hasattr(first, "docpairs_iter"):
        raise ValueError(f"{spec}: {irds_id(spec, langs[0])} has no training triplets (docpairs)")
    triplets: list[tuple[str, str, str]] = []
    for pair in first.docpairs_iter():
        triplets.append((str(pair.query_id), str(pair.doc_id_a), str(pair.doc_id_b)))
        if limit is not None and len(triplets) >= limit:
            break
    qids = {q for q, _, _ in triplets}
    pids = {p for _, a, b in triplets for p in (a, b)}
    queries, passages = {}, {}
    for lang in langs:
        dataset_id = irds_id(spec, lang)
        queries[lang] = {q.qid: q.text for q in irds_queries(dataset_id, lang=lang) if q.qid in qids}
        passages[lang] = _passages(dataset_id, lang, pids)
    return TrainingTexts(spec, triplets, queries, passages)


def _passages(dataset_id: str, lang: str, pids: set[str]) -> dict[str, str]:
    dataset = _dataset(dataset_id)
    if hasattr(dataset, "docs_store"):
        found = dataset.docs_store().get_many(sorted(pids))
        return {str(docid): _text(doc, None) for docid, doc in found.items()}
    return {d.docid: d.text for d in irds_documents(dataset_id, lang=lang) if d.docid in pids}
