"""Any ``ir_datasets`` collection as optical records (optional: ``pip install ir_datasets``).

``ir_datasets`` is an extra, not a requirement; the functions here import it when called and,
if it is missing, raise ``ImportError`` with the exact install command.  Downloads, if any, are
done by ``ir_datasets`` itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from optical.data.collection import Collection, collect_documents, collect_queries
from optical.data.records import Document, Qrel, Query
from optical.data.trec import qrels_from_records

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
