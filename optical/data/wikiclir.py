"""WikiCLIR (Sasaki et al., NAACL 2018) in its distributed layout, both directions.

The distributed collection (English queries, documents in language X)::

    wiki-clir/english/wiki_en.queries        query_id<TAB>title<TAB>first_sent
    wiki-clir/<language>/wiki_<code>.documents  doc_id<TAB>title<TAB>text
    wiki-clir/<language>/en2<code>.rel       qid docid relevance    (3 columns)

``<language>`` is the lowercase English name (``german``, ``swahili``; see
:mod:`optical.data.languages`).  Relevance 2 marks the cross-lingual mate of the query article,
1 the articles linking to and linked by it.  The one queries file serves every language; a
language's queries are those its ``.rel`` file judges.

The X -> English direction (``direction="x2en"``, what ``data_recipes`` builds: queries in X,
documents in English) mirrors that layout with the roles swapped::

    wiki-clir/<language>/wiki_<code>.queries    query_id<TAB>title<TAB>first_sent   (language X)
    wiki-clir/english/wiki_en.documents         doc_id<TAB>title<TAB>text           (shared by every X)
    wiki-clir/<language>/<code>2en.rel          qid docid relevance

The relevance file always sits in the non-English language's directory, as ``en2<code>.rel``
does.  Which query field becomes :attr:`Query.text` is an explicit option: ``"title"`` (the
default, as in ``ir_datasets``) or ``"first_sent"``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from optical.data._lines import PathLike, check_writable_id, check_writable_text, open_text_for_write, text_problem
from optical.data.collection import (
    Collection,
    collect_documents,
    collect_queries,
    read_documents_tsv,
    unique_rows,
)
from optical.data.errors import OnError, check_on_error
from optical.data.languages import language_name
from optical.data.records import Document, Query
from optical.data.trec import read_qrels

QueryField = Literal["title", "first_sent"]
TOPIC_COLUMNS = ("query_id", "title", "first_sent")
Direction = Literal["en2x", "x2en"]

RELEVANCE_GRADES = {
    2: "the cross-lingual mate of the query",
    1: "linked to the mate (WikiCLIR: links to and from the mate; Bible recipe: a cross-reference)",
}


@dataclass(frozen=True, slots=True)
class WikiClirTopic:
    """A WikiCLIR query line: both text fields, before one is chosen as the query text."""

    qid: str
    title: str
    first_sent: str
    lang: str

    def query(self, field: QueryField = "title") -> Query:
        """The :class:`Query` whose text is ``field``."""
        return Query(self.qid, getattr(self, _check_field(field)), self.lang)


@dataclass(frozen=True)
class WikiClirPaths:
    """Where the three files of one language pair live."""

    queries: Path
    documents: Path
    qrels: Path


def _check_field(field: str) -> QueryField:
    if field not in ("title", "first_sent"):
        raise ValueError(f"query_field must be 'title' or 'first_sent', got {field!r}")
    return field  # type: ignore[return-value]


def _check_direction(direction: str) -> Direction:
    if direction not in ("en2x", "x2en"):
        raise ValueError(f"direction must be 'en2x' (English queries) or 'x2en' (English documents), got {direction!r}")
    return direction  # type: ignore[return-value]


def wikiclir_root(root: PathLike) -> Path:
    """The ``wiki-clir`` directory: ``root`` itself or ``root/wiki-clir``."""
    root = Path(root)
    return root if root.name == "wiki-clir" or not (root / "wiki-clir").is_dir() else root / "wiki-clir"


def wikiclir_paths(root: PathLike, lang: str, direction: Direction = "en2x") -> WikiClirPaths:
    """The queries, documents and relevance files for ``lang`` (the non-English language).

    ``root`` may be the directory holding ``wiki-clir/`` or ``wiki-clir/`` itself.  The English
    side's file is named ``*_en.*``; a ``simple`` (Simple English) collection uses
    ``simple_english/wiki_simple.documents`` and ``en2simple.rel``, as distributed.
    """
    base = wikiclir_root(root)
    _check_direction(direction)
    here = base / _language_folder(base, lang, direction)
    english = base / "english"
    if direction == "en2x":
        return WikiClirPaths(english / "wiki_en.queries", here / f"wiki_{lang}.documents", here / f"en2{lang}.rel")
    return WikiClirPaths(here / f"wiki_{lang}.queries", english / "wiki_en.documents", here / f"{lang}2en.rel")


def _language_folder(base: Path, lang: str, direction: Direction) -> str:
    """The folder of ``lang``: the one holding its relevance file, else the table's name for it."""
    found = wikiclir_languages(base, direction)
    if lang in found:
        return found[lang]
    return language_name(lang)


def wikiclir_languages(root: PathLike, direction: Direction = "en2x") -> dict[str, str]:
    """``{code: folder name}`` of every language folder holding its relevance file (``en2<code>.rel``
    or ``<code>2en.rel``), whatever the folder is called (``swahili``, ``somali``)."""
    base = wikiclir_root(root)
    _check_direction(direction)
    pattern = re.compile(r"en2(.+)\.rel" if direction == "en2x" else r"(.+)2en\.rel")
    found: dict[str, str] = {}
    for folder in sorted(p for p in base.iterdir() if p.is_dir() and p.name != "english") if base.is_dir() else []:
        for path in sorted(folder.glob("*.rel")):
            if (match := pattern.fullmatch(path.name)) and match[1] != "en":
                found.setdefault(match[1], folder.name)
    return found


def read_wikiclir_topics(path: PathLike, lang: str, *, on_error: OnError = "raise") -> Iterator[WikiClirTopic]:
    """Stream ``query_id<TAB>title<TAB>first_sent`` lines (either text field may be empty, not both)."""
    check_on_error(on_error)
    return _read_topics(Path(path), lang, on_error)


def _read_topics(path: Path, lang: str, on_error: OnError) -> Iterator[WikiClirTopic]:
    for _, (qid, title, first_sent) in unique_rows(path, TOPIC_COLUMNS, on_error, _topic_problem):
        yield WikiClirTopic(qid, title, first_sent, lang)


def _topic_problem(fields: list[str]) -> str:
    return "empty title and first_sent" if not fields[1].strip() and not fields[2].strip() else ""


def read_wikiclir_queries(
    path: PathLike, lang: str, *, query_field: QueryField = "title", on_error: OnError = "raise"
) -> Iterator[Query]:
    """Stream queries whose text is ``query_field``; a line whose chosen field is empty is malformed."""
    check_on_error(on_error)
    _check_field(query_field)
    return _read_queries(Path(path), lang, query_field, on_error)


def _read_queries(path: Path, lang: str, query_field: QueryField, on_error: OnError) -> Iterator[Query]:
    column = 1 if query_field == "title" else 2
    for _, fields in unique_rows(path, TOPIC_COLUMNS, on_error, lambda f: text_problem(f[column], query_field)):
        yield Query(fields[0], fields[column], lang)


def read_wikiclir_documents(path: PathLike, lang: str, *, on_error: OnError = "raise") -> Iterator[Document]:
    """Stream ``doc_id<TAB>title<TAB>text`` documents (the title may be empty, the text not)."""
    return read_documents_tsv(path, lang, titled=True, on_error=on_error)


def load_wikiclir(
    root: PathLike,
    lang: str,
    *,
    direction: Direction = "en2x",
    query_field: QueryField = "title",
    judged_queries_only: bool = True,
    on_error: OnError = "raise",
) -> Collection:
    """Load one language pair of a WikiCLIR-layout collection.

    Parameters
    ----------
    root
        The directory holding ``wiki-clir/`` (or ``wiki-clir/`` itself).
    lang
        The non-English language code (``"de"``, ``"sw"``).
    direction
        ``"en2x"``: the distributed WikiCLIR (English queries, documents in ``lang``);
        ``"x2en"``: queries in ``lang``, English documents (what ``data_recipes`` builds).
    query_field
        ``"title"`` or ``"first_sent"``: which query field is the query text.
    judged_queries_only
        Keep only queries that the relevance file judges (WikiCLIR's one English queries file
        serves all 25 languages, so this is how a language's queries are selected).
    on_error
        ``"raise"`` or ``"skip"`` malformed lines.

    Returns
    -------
    Collection
        Named ``wikiclir/en2<lang>`` or ``wikiclir/<lang>2en``.
    """
    direction = _check_direction(direction)
    paths = wikiclir_paths(root, lang, direction)
    query_lang, doc_lang = ("en", lang) if direction == "en2x" else (lang, "en")
    qrels = read_qrels(paths.qrels, columns=3, on_error=on_error)
    queries = read_wikiclir_queries(paths.queries, query_lang, query_field=query_field, on_error=on_error)
    if judged_queries_only:
        queries = (q for q in queries if q.qid in qrels)
    return Collection(
        queries=collect_queries(queries, source=paths.queries),
        documents=collect_documents(
            read_wikiclir_documents(paths.documents, doc_lang, on_error=on_error), source=paths.documents
        ),
        qrels=qrels,
        name=f"wikiclir/en2{lang}" if direction == "en2x" else f"wikiclir/{lang}2en",
    )


def write_wikiclir_topics(path: PathLike, topics: Iterable[WikiClirTopic]) -> int:
    """Write ``query_id<TAB>title<TAB>first_sent`` lines in the given order; returns the count."""
    written = 0
    with open_text_for_write(path) as out:
        for topic in topics:
            qid = check_writable_id(topic.qid, "query id")
            title = check_writable_text(topic.title, "title", qid)
            first_sent = check_writable_text(topic.first_sent, "first_sent", qid)
            if not title.strip() and not first_sent.strip():
                raise ValueError(f"cannot write query {qid!r}: title and first_sent are both empty")
            out.write(f"{qid}\t{title}\t{first_sent}\n")
            written += 1
    return written
