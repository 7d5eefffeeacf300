"""TREC topic files, and "topics + qrels + documents" collections as CLEF, MATERIAL and CIRAL ship them.

Topics come in two families; :func:`read_topics` tells them apart by the first non-blank line.

SGML (TREC ad hoc, CLEF)::

    <top>
    <num> Number: 401
    <title> foreign minorities, Germany
    <desc> Description:
    What language and cultural differences impede the integration of foreign minorities?
    <narr> Narrative:
    A relevant document will focus on ...
    </top>

Closing tags (``</title>``) are optional, and a tag may carry a language prefix as CLEF's
(``<SW-title>``, ``<EN-desc>``).  A field runs from its tag to the next tag; whitespace inside it
is collapsed to single spaces and the ``Number:``, ``Topic:``, ``Description:`` and
``Narrative:`` labels are dropped, as ``ir_datasets``' ``TrecQueries`` does.

TSV (CIRAL, MATERIAL-style query lists, MS MARCO)::

    qid<TAB>title                      or
    qid<TAB>title<TAB>description

A first line whose id is ``qid``, ``query_id``, ``id`` or ``topic_id`` is a header and skipped.

:func:`load_trec_collection` joins a topics file, a qrels file and documents (one ``docid<TAB>text``
TSV file, or a folder of them) into a :class:`~optical.data.collection.Collection`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from optical.data._lines import PathLike, id_problem, iter_lines
from optical.data.collection import Collection, _read_rows, collect_documents, collect_queries, read_documents_tsv
from optical.data.errors import BadLines, DataFormatError, OnError, check_on_error
from optical.data.records import Query
from optical.data.trec import read_qrels

__all__ = ["Topic", "TopicField", "TrecPaths", "load_trec_collection", "read_topics", "trec_paths"]

TopicField = Literal["title", "desc", "narr", "title+desc"]
TOPIC_FIELDS = ("title", "desc", "narr", "title+desc")

# A tag, with an optional CLEF language prefix: <num>, <SW-title>, </EN-desc>.
_TAG = re.compile(r"<(/?)(?:[A-Za-z]{2,3}-)?(top|num|title|desc|narr)\s*>", re.IGNORECASE)
_LABEL = {
    "num": re.compile(r"^(number|topic)\s*:\s*", re.IGNORECASE),
    "title": re.compile(r"^topic\s*:\s*", re.IGNORECASE),
    "desc": re.compile(r"^description\s*:\s*", re.IGNORECASE),
    "narr": re.compile(r"^narrative\s*:\s*", re.IGNORECASE),
}
_HEADER_IDS = {"qid", "query_id", "id", "topic_id"}


@dataclass(frozen=True, slots=True)
class Topic:
    """One topic: its id, the title, description and narrative (any may be empty), and the language."""

    qid: str
    title: str
    desc: str
    narr: str
    lang: str

    def query(self, field: TopicField = "title") -> Query:
        """The :class:`Query` whose text is ``field`` (``"title+desc"``: both, a space between)."""
        if field not in TOPIC_FIELDS:
            raise ValueError(f"topic field must be one of {', '.join(TOPIC_FIELDS)}, got {field!r}")
        if field == "title+desc":
            return Query(self.qid, " ".join(t for t in (self.title, self.desc) if t), self.lang)
        return Query(self.qid, getattr(self, field), self.lang)


def read_topics(path: PathLike, lang: str, *, on_error: OnError = "raise") -> Iterator[Topic]:
    """Stream the topics of a TREC SGML or TSV topics file (see the module docstring).

    A topic without an id, with neither title nor description, or with an id already read is
    malformed (:class:`~optical.data.errors.DataFormatError` names the file and the topic's line).
    """
    check_on_error(on_error)
    path = Path(path)
    first = next((line for _, line in iter_lines(path, BadLines(path, "skip")) if line.strip()), "")
    topics = _read_sgml(path, lang, on_error) if first.lstrip().startswith("<") else _read_tsv(
        path, lang, on_error, first)
    return _unique(path, topics, on_error)


def _unique(path: Path, topics: Iterator[tuple[int, Topic]], on_error: OnError) -> Iterator[Topic]:
    bad = BadLines(path, on_error)
    first_line: dict[str, int] = {}
    try:
        for number, topic in topics:
            if topic.qid in first_line:
                bad.report(number, f"topic {topic.qid} appears twice (first at line {first_line[topic.qid]})")
                continue
            first_line[topic.qid] = number
            yield topic
    finally:
        bad.warn_if_skipped()


def _read_tsv(path: Path, lang: str, on_error: OnError, first: str) -> Iterator[tuple[int, Topic]]:
    # The first line fixes the variant: two columns, or three with a description.
    names = ("qid", "title", "description")[: 3 if first.count("\t") == 2 else 2]
    bad = BadLines(path, on_error)
    try:
        for index, (number, fields) in enumerate(_read_rows(path, names, on_error, bad)):
            if index == 0 and fields[0].strip().lower() in _HEADER_IDS:
                continue
            title, desc = (" ".join(f.split()) for f in (fields + [""])[1:3])
            reason = id_problem(fields[0], "topic id") or ("empty topic text" if not title and not desc else "")
            if reason:
                bad.report(number, reason)
                continue
            yield number, Topic(fields[0], title, desc, "", lang)
    finally:
        bad.warn_if_skipped()


def _read_sgml(path: Path, lang: str, on_error: OnError) -> Iterator[tuple[int, Topic]]:
    bad = BadLines(path, on_error)
    fields: dict[str, str] | None = None
    current: str | None = None
    start = 0
    try:
        for number, line in iter_lines(path, bad):
            position = 0
            for match in _TAG.finditer(line):
                if current is not None and fields is not None:
                    fields[current] += " " + line[position:match.start()]
                position = match.end()
                closing, tag = match.group(1) == "/", match.group(2).lower()
                if tag == "top" and not closing:
                    if fields is not None:
                        bad.report(start, "<top> opened before the previous topic's </top>")
                    fields, current, start = {}, None, number
                elif tag == "top":
                    if fields is None:
                        bad.report(number, "</top> without <top>")
                    else:
                        topic, reason = _topic(fields, lang)
                        if topic is None:
                            bad.report(start, reason)
                        else:
                            yield start, topic
                    fields, current = None, None
                elif fields is None:
                    bad.report(number, f"<{tag}> outside a <top> ... </top> block")
                elif closing:
                    current = None
                else:
                    current = tag
                    fields.setdefault(tag, "")
            if current is not None and fields is not None:
                fields[current] += " " + line[position:]
        if fields is not None:
            bad.report(start, "the last topic has no </top>")
    finally:
        bad.warn_if_skipped()


def _topic(fields: dict[str, str], lang: str) -> tuple[Topic | None, str]:
    text = {tag: _LABEL[tag].sub("", " ".join(value.split())) for tag, value in fields.items()}
    qid = text.get("num", "")
    if id_problem(qid, "topic number"):
        return None, id_problem(qid, "topic number") + " in <num>"
    title, desc, narr = text.get("title", ""), text.get("desc", ""), text.get("narr", "")
    if not title and not desc:
        return None, f"topic {qid} has neither <title> nor <desc> text"
    return Topic(qid, title, desc, narr, lang), ""


@dataclass(frozen=True)
class TrecPaths:
    """The three parts of a TREC-style collection folder."""

    topics: Path
    qrels: Path
    documents: tuple[Path, ...]


_TOPIC_NAMES = re.compile(r"(.*[._-])?(topics?|queries)([._-].*)?", re.IGNORECASE)
_QRELS_NAMES = re.compile(r"(.*[._-])?qrels?([._-].*)?", re.IGNORECASE)
_DOC_FOLDERS = ("docs", "documents", "collection", "corpus")


def trec_paths(root: PathLike) -> TrecPaths:
    """Find the topics file, the qrels file and the documents under a TREC-style folder.

    The folder holds one file whose name says topics or queries (``topics.sw.txt``,
    ``queries.tsv``), one whose name says qrels (``qrels.txt``, ``sw.qrels``) and the documents:
    a ``docs/``, ``documents/``, ``collection/`` or ``corpus/`` folder of ``docid<TAB>text`` (or
    ``docid<TAB>title<TAB>text``) ``.tsv`` files, or one such file named like that folder
    (``docs.tsv``).

    Raises
    ------
    ValueError
        Naming the part that is missing or ambiguous.
    """
    root = Path(root)
    files = sorted(p for p in root.iterdir() if p.is_file()) if root.is_dir() else []

    def one(pattern: re.Pattern, what: str) -> Path:
        found = [p for p in files if pattern.fullmatch(p.name)]
        if len(found) != 1:
            problem = "no" if not found else f"{len(found)} candidate ({', '.join(p.name for p in found)})"
            raise ValueError(f"{root}: {problem} {what} file; a TREC-style folder holds exactly one")
        return found[0]

    topics = one(_TOPIC_NAMES, "topics")
    qrels = one(_QRELS_NAMES, "qrels")
    documents: list[Path] = []
    for name in _DOC_FOLDERS:
        folder = root / name
        if folder.is_dir():
            documents = sorted(p for p in folder.rglob("*.tsv*") if p.is_file())
            break
        documents = [p for p in files if p.name.split(".")[0] == name and ".tsv" in p.name]
        if documents:
            break
    if not documents:
        raise ValueError(f"{root}: no documents (a {'/, '.join(_DOC_FOLDERS)}/ folder of .tsv files, or docs.tsv)")
    return TrecPaths(topics, qrels, tuple(documents))


def load_trec_collection(
    root: PathLike,
    query_lang: str,
    doc_lang: str = "en",
    *,
    topic_field: TopicField = "title",
    judged_queries_only: bool = True,
    on_error: OnError = "raise",
) -> Collection:
    """Load a TREC-style folder (topics, qrels, documents: see :func:`trec_paths`).

    Parameters
    ----------
    root
        The folder.
    query_lang, doc_lang
        Languages of the topics and of the documents.
    topic_field
        ``"title"``, ``"desc"``, ``"narr"`` or ``"title+desc"``: the query text.
    judged_queries_only
        Keep only topics the qrels judge.
    on_error
        ``"raise"`` or ``"skip"`` malformed lines.
    """
    paths = trec_paths(root)
    qrels = read_qrels(paths.qrels, on_error=on_error)
    topics = (t.query(topic_field) for t in read_topics(paths.topics, query_lang, on_error=on_error))
    queries = collect_queries((q for q in topics if q.text and (q.qid in qrels or not judged_queries_only)),
                              source=paths.topics)
    documents = {}
    for path in paths.documents:
        titled = _titled(path, on_error)
        for docid, document in collect_documents(
            read_documents_tsv(path, doc_lang, titled=titled, on_error=on_error), source=path
        ).items():
            if docid in documents:
                raise DataFormatError(path, None, f"document id {docid} is also in another documents file")
            documents[docid] = document
    return Collection(queries, documents, qrels, name=f"trec/{Path(root).name}")


def _titled(path: Path, on_error: OnError) -> bool:
    """Whether a documents file has three columns (docid, title, text), from its first line."""
    for _, line in iter_lines(path, BadLines(path, "skip")):
        if line.strip():
            return line.count("\t") == 2
    return False
