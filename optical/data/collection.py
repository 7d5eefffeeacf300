"""A retrieval collection in memory, and the plain ``id<TAB>text`` files most collections use.

:class:`Collection` holds queries, documents and qrels keyed by id; every loader
(:func:`~optical.data.wikiclir.load_wikiclir`, :func:`~optical.data.mmarco.load_mmarco`, ...)
returns one.  The streaming readers here (:func:`read_queries_tsv`, :func:`read_documents_tsv`)
read MS MARCO / mMARCO style two-column files and titled three-column ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from optical.data._lines import (
    PathLike,
    check_writable_id,
    check_writable_nonempty_text,
    check_writable_text,
    id_problem,
    iter_lines,
    open_text_for_write,
    split_tsv,
    text_problem,
)
from optical.data.errors import BadLines, DataFormatError, OnError, check_on_error
from optical.data.records import Document, Query


@dataclass
class Collection:
    """Queries, documents and graded judgments of one retrieval task.

    Attributes
    ----------
    queries
        ``{qid: Query}``.
    documents
        ``{docid: Document}``.
    qrels
        ``{qid: {docid: relevance}}`` (the ``pytrec_eval`` / ``ir_measures`` format).
    name
        A label, e.g. ``"wikiclir/sw2en"``.
    """

    queries: dict[str, Query]
    documents: dict[str, Document]
    qrels: dict[str, dict[str, int]]
    name: str = ""

    @property
    def query_languages(self) -> tuple[str, ...]:
        """The sorted language codes of the queries."""
        return tuple(sorted({q.lang for q in self.queries.values()}))

    @property
    def document_languages(self) -> tuple[str, ...]:
        """The sorted language codes of the documents."""
        return tuple(sorted({d.lang for d in self.documents.values()}))

    def unjudged_queries(self) -> list[str]:
        """Query ids with no positive judgment (they cannot score in most measures)."""
        return [qid for qid in self.queries if not any(rel > 0 for rel in self.qrels.get(qid, {}).values())]

    def dangling_judgments(self) -> list[tuple[str, str]]:
        """``(qid, docid)`` judgments whose query or document is not in the collection."""
        return [
            (qid, docid)
            for qid, judged in self.qrels.items()
            for docid in judged
            if qid not in self.queries or docid not in self.documents
        ]


def collect_queries(queries: Iterable[Query], *, source: PathLike = "<queries>") -> dict[str, Query]:
    """``{qid: Query}``; a repeated id or no query at all raises :class:`DataFormatError` naming ``source``."""
    return _collect(queries, "qid", "query", source)


def collect_documents(documents: Iterable[Document], *, source: PathLike = "<documents>") -> dict[str, Document]:
    """``{docid: Document}``; a repeated id or no document at all raises :class:`DataFormatError`."""
    return _collect(documents, "docid", "document", source)


def _collect(records: Iterable, key: str, what: str, source: PathLike) -> dict:
    collected: dict = {}
    for record in records:
        record_id = getattr(record, key)
        if record_id in collected:
            raise DataFormatError(source, None, f"{what} id {record_id} appears twice")
        collected[record_id] = record
    if not collected:
        # An empty file would otherwise fail much later ("cannot index an empty document set").
        raise DataFormatError(source, None, f"no {what} in the file (it is empty or every line was skipped)")
    return collected


def read_tsv_rows(
    path: PathLike, names: tuple[str, ...], *, on_error: OnError = "raise"
) -> Iterator[tuple[int, list[str]]]:
    """Stream ``(line_number, fields)`` of a TSV with exactly ``len(names)`` columns (blank lines ignored).

    For formats this module does not know: the caller checks the fields and reports problems with
    :class:`DataFormatError` and the line number.
    """
    check_on_error(on_error)
    return _read_rows(Path(path), names, on_error)


def _read_rows(
    path: Path, names: tuple[str, ...], on_error: OnError, bad: BadLines | None = None
) -> Iterator[tuple[int, list[str]]]:
    """The one TSV loop: blank lines ignored, a wrong column count reported to ``bad``.

    A caller that reports its own problems passes its ``bad`` (and then warns itself).
    """
    own = bad is None
    bad = BadLines(path, on_error) if bad is None else bad
    try:
        for number, line in iter_lines(path, bad):
            if not line.strip():
                continue
            fields, reason = split_tsv(line, names)
            if fields is None:
                bad.report(number, reason)
                continue
            yield number, fields
    finally:
        if own:
            bad.warn_if_skipped()


_ID_NAMES = {"qid": "query id", "query_id": "query id", "docid": "document id"}


def unique_rows(
    path: Path, names: tuple[str, ...], on_error: OnError, check
) -> Iterator[tuple[int, list[str]]]:
    """:func:`_read_rows` with the first column an id unique in the file and ``check(fields)`` a reason or ``""``.

    A repeated id is malformed and names the line of its first appearance; ``on_error="skip"``
    keeps the first and drops the repeats.
    """
    bad = BadLines(path, on_error)
    first_line: dict[str, int] = {}
    try:
        for number, fields in _read_rows(path, names, on_error, bad):
            record_id = fields[0]
            reason = id_problem(record_id, names[0]) or check(fields)
            if not reason and record_id in first_line:
                what = _ID_NAMES.get(names[0], names[0])
                reason = f"{what} {record_id} appears twice (first at line {first_line[record_id]})"
            if reason:
                bad.report(number, reason)
                continue
            first_line[record_id] = number
            yield number, fields
    finally:
        bad.warn_if_skipped()


def read_queries_tsv(path: PathLike, lang: str, *, on_error: OnError = "raise") -> Iterator[Query]:
    """Stream queries from a TSV of ``qid<TAB>text`` lines (MS MARCO / mMARCO ``queries.*.tsv``).

    Blank lines are ignored; a wrong column count, an empty id or text, an id with whitespace,
    an id already read (the error names both lines) or bad UTF-8 is malformed (see :mod:`optical.data.errors`).
    """
    check_on_error(on_error)
    return _read_id_text(Path(path), lang, on_error, ("qid", "text"), lambda i, t, _: Query(i, t, lang))


def read_documents_tsv(
    path: PathLike, lang: str, *, titled: bool = False, on_error: OnError = "raise"
) -> Iterator[Document]:
    """Stream documents from a TSV of ``docid<TAB>text`` (or ``docid<TAB>title<TAB>text`` if ``titled``).

    A title may be empty; the text may not.
    """
    check_on_error(on_error)
    names = ("docid", "title", "text") if titled else ("docid", "text")
    return _read_id_text(Path(path), lang, on_error, names, lambda i, t, title: Document(i, t, lang, title))


def _read_id_text(path: Path, lang: str, on_error: OnError, names, make) -> Iterator:
    for _, fields in unique_rows(path, names, on_error, lambda fields: text_problem(fields[-1], "text")):
        yield make(fields[0], fields[-1], fields[1] if len(fields) == 3 else "")


def write_queries_tsv(path: PathLike, queries: Iterable[Query]) -> int:
    """Write ``qid<TAB>text`` lines in the given order; returns the number written."""
    written = 0
    with open_text_for_write(path) as out:
        for query in queries:
            qid = check_writable_id(query.qid, "query id")
            out.write(f"{qid}\t{check_writable_nonempty_text(query.text, 'text', qid)}\n")
            written += 1
    return written


def write_documents_tsv(path: PathLike, documents: Iterable[Document], *, titled: bool = False) -> int:
    """Write ``docid<TAB>text`` (or ``docid<TAB>title<TAB>text``) lines; returns the number written."""
    written = 0
    with open_text_for_write(path) as out:
        for document in documents:
            docid = check_writable_id(document.docid, "document id")
            text = check_writable_nonempty_text(document.text, "text", docid)
            if titled:
                out.write(f"{docid}\t{check_writable_text(document.title, 'title', docid)}\t{text}\n")
            else:
                out.write(f"{docid}\t{text}\n")
            written += 1
    return written
