"""Collections as evaluation tasks: which queries meet which documents, in which setting.

A :class:`RetrievalTask` is one row of a results table: a query language, the document
language(s), the setting, the queries, the documents and the qrels.  A :class:`Source` makes
tasks; :func:`open_source` opens a folder of any layout :mod:`optical.data.layouts` knows:

- :class:`WikiClirSource` (WikiCLIR layout): queries in each language against the one document
  language, the ``cross`` setting only (``x2en``, what ``data_recipes`` builds, or the
  distributed ``en2x``).
- :class:`ParallelSource` (XQuAD-R and mMARCO layouts): every query and document exists in every
  language under the same id, so it gives three settings:

  ``mono``   queries in X against documents in X, for every X;
  ``cross``  queries in X against documents in Y, for every ordered pair X != Y;
  ``multi``  queries in X against the pool of all languages' documents, ids ``<id>@<lang>``,
             where every language version of a relevant document is relevant with its grade.

  A language with queries but no documents of its own (``amharic_queries.test.tsv`` next to
  ``english_collection.tsv``) gives ``cross`` and ``multi`` tasks only.
- :class:`CollectionSource`: any one :class:`~optical.data.collection.Collection` (a TREC-style
  "topics + qrels + documents" folder, an ``ir_datasets`` id), one ``cross`` task, or ``mono``
  when queries and documents share their language.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from optical.data import Collection, Document, Query, load_wikiclir, read_queries_tsv, xquadr_languages
from optical.data.collection import collect_documents, collect_queries, read_documents_tsv
from optical.data.errors import DataFormatWarning
from optical.data.layouts import detect_layout
from optical.data.mmarco import mmarco_layout
from optical.data.trec import Qrels, read_qrels
from optical.data.wikiclir import read_wikiclir_queries, wikiclir_languages, wikiclir_paths, wikiclir_root
from optical.data.xquadr import pooled_docid, xquadr_paths, xquadr_query_languages

__all__ = [
    "SETTINGS",
    "CollectionSource",
    "ParallelSource",
    "RetrievalTask",
    "Source",
    "TextSet",
    "WikiClirSource",
    "open_source",
    "parallel_setting_pairs",
]

SETTINGS = ("mono", "cross", "multi")


@dataclass(frozen=True)
class TextSet:
    """Ids and texts of one language (or one file), in a fixed order."""

    lang: str
    ids: tuple[str, ...]
    texts: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, ids: Sequence[str]) -> TextSet:
        """The texts of ``ids`` in that order; a missing id raises ``ValueError``."""
        position = {item: i for i, item in enumerate(self.ids)}
        missing = [i for i in ids if i not in position]
        if missing:
            raise ValueError(f"{len(missing)} id(s) have no {self.lang} text, e.g. {missing[:5]}")
        return TextSet(self.lang, tuple(ids), tuple(self.texts[position[i]] for i in ids))

    def pooled(self) -> TextSet:
        """The same texts with ids ``<id>@<lang>`` (for a pooled multilingual collection)."""
        return TextSet(self.lang, tuple(pooled_docid(i, self.lang) for i in self.ids), self.texts)


@dataclass(frozen=True)
class RetrievalTask:
    """Queries of one language against documents of one language or a pool of several."""

    setting: str
    query_lang: str
    doc_langs: tuple[str, ...]
    queries: TextSet
    documents: tuple[TextSet, ...]
    qrels: Qrels

    @property
    def label(self) -> str:
        """``sw→en``, or ``sw→all`` for a pool."""
        target = "all" if self.setting == "multi" else "+".join(self.doc_langs)
        return f"{self.query_lang}→{target}"

    @property
    def document_ids(self) -> list[str]:
        return [docid for part in self.documents for docid in part.ids]


def parallel_setting_pairs(
    langs: Sequence[str], settings: Sequence[str], doc_langs: Sequence[str] | None = None
) -> list[tuple[str, str, tuple[str, ...]]]:
    """``(setting, query language, document languages)`` for each task of ``settings``.

    ``langs`` are the query languages and ``doc_langs`` (default ``langs``) the languages with
    documents: ``mono`` pairs a language with itself where it has both, ``cross`` every query
    language with every other document language, ``multi`` every query language with the pool.
    """
    unknown = [s for s in settings if s not in SETTINGS]
    if unknown:
        raise ValueError(f"unknown setting(s) {unknown}; known: {', '.join(SETTINGS)}")
    doc_langs = tuple(langs if doc_langs is None else doc_langs)
    pairs: list[tuple[str, str, tuple[str, ...]]] = []
    for setting in settings:
        for x in langs:
            if setting == "mono":
                pairs.extend([(setting, x, (x,))] if x in doc_langs else [])
            elif setting == "cross":
                pairs.extend((setting, x, (y,)) for y in doc_langs if y != x)
            else:
                if len(doc_langs) < 2:
                    raise ValueError("the multi setting needs at least two languages")
                pairs.append((setting, x, doc_langs))
    return pairs


def available_settings(langs: Sequence[str], doc_langs: Sequence[str]) -> tuple[str, ...]:
    """The settings that give at least one task over these query and document languages."""
    return tuple(
        setting for setting, possible in (
            ("mono", any(x in doc_langs for x in langs)),
            ("cross", any(y != x for x in langs for y in doc_langs)),
            ("multi", len(doc_langs) > 1),
        ) if possible
    )


def _text_set(collection: Collection, lang: str, kind: str) -> TextSet:
    return _sorted_texts(collection.queries if kind == "queries" else collection.documents, lang)


def _sorted_texts(records: Mapping[str, Query | Document], lang: str) -> TextSet:
    """The texts of ``{id: record}`` in id order."""
    ids = tuple(sorted(records))
    return TextSet(lang, ids, tuple(records[i].text for i in ids))


def _limit(queries: TextSet, qrels: Qrels, max_queries: int | None) -> tuple[TextSet, Qrels]:
    """The judged queries (sorted ids), at most ``max_queries`` of them, and their qrels."""
    judged = [qid for qid in queries.ids if qid in qrels]
    if max_queries is not None:
        judged = judged[:max_queries]
    if not judged:
        raise ValueError(f"no judged {queries.lang} query: the query set is empty")
    return queries.subset(judged), {qid: qrels[qid] for qid in judged}


class Source(Protocol):
    """What the evaluator needs from a collection, whatever its layout.

    Attributes
    ----------
    name
        Names the collection in reports (its folder, or ``irds:<id>``).
    languages
        The query languages of the tasks.
    settings
        The settings :meth:`tasks` can make (a subset of :data:`SETTINGS`).
    parallel
        Every query and document exists in every language under one id, so language bias
        (rank distance in the ``multi`` setting) and alignment can be measured.
    """

    name: str
    languages: tuple[str, ...]
    settings: tuple[str, ...]
    parallel: bool

    def tasks(self, settings: Sequence[str]) -> list[RetrievalTask]:
        """The tasks of ``settings``, one per query language (and document language or pool)."""
        ...

    def queries_in(self, lang: str) -> TextSet:
        """The queries written in ``lang`` (same ids as every other language's); ``ValueError`` if none."""
        ...


class WikiClirSource:
    """A WikiCLIR-layout collection (either direction), one ``cross`` task per non-English language.

    For queries in another language than the tasks' own (:meth:`queries_in`), the English
    queries of an ``x2en`` collection are read from ``english/wiki_en.queries`` (WikiCLIR's own
    place for English queries) and another language's from its ``wiki_<code>.queries``.
    """

    settings = ("cross",)
    parallel = False

    def __init__(self, root: str | Path, langs: Sequence[str] = (), *, max_queries: int | None = None) -> None:
        self.root = wikiclir_root(root)
        self.name = str(self.root)
        english = self.root / "english"
        self.direction = "x2en" if (english / "wiki_en.documents").is_file() else "en2x"
        present = sorted(wikiclir_languages(self.root, self.direction))
        if not present:
            raise ValueError(f"{root}: no WikiCLIR language directory with a relevance file")
        self.languages = tuple(langs) or tuple(present)
        missing = [lang for lang in self.languages if lang not in present]
        if missing:
            raise ValueError(f"{root}: no WikiCLIR files for {missing}; present: {present}")
        self.max_queries = max_queries

    def tasks(self, settings: Sequence[str] = ("cross",)) -> list[RetrievalTask]:
        if any(s != "cross" for s in settings):
            raise ValueError("a WikiCLIR collection has only the cross setting (queries and documents differ)")
        tasks = []
        for lang in self.languages:
            collection = load_wikiclir(self.root, lang, direction=self.direction)
            query_lang, doc_lang = (lang, "en") if self.direction == "x2en" else ("en", lang)
            queries, qrels = _limit(_text_set(collection, query_lang, "queries"), collection.qrels, self.max_queries)
            documents = (_text_set(collection, doc_lang, "documents"),)
            tasks.append(RetrievalTask("cross", query_lang, (doc_lang,), queries, documents, qrels))
        return tasks

    def queries_in(self, lang: str) -> TextSet:
        """The queries written in ``lang`` (same ids as every other language's)."""
        if lang == "en":
            path = self.root / "english" / "wiki_en.queries"
        else:
            path = wikiclir_paths(self.root, lang, "x2en").queries
        if not path.is_file():
            raise ValueError(f"no {lang} queries in {self.root} (looked for {path})")
        return _sorted_texts({q.qid: q for q in read_wikiclir_queries(path, lang)}, lang)


class ParallelSource:
    """A multi-parallel collection: the XQuAD-R layout, or mMARCO (``split`` names the query set).

    A language with queries but no documents of its own searches the other languages'
    documents (``cross`` and ``multi`` only), and a language with documents but no queries is
    searched only.  With ``langs`` given, documents are those of the given languages that have
    them, or every language's when none of them has.  Files of an
    mMARCO folder that are not read are named in one :class:`~optical.data.errors.DataFormatWarning`.
    """

    parallel = True

    def __init__(
        self,
        root: str | Path,
        langs: Sequence[str] = (),
        *,
        layout: str,
        split: str = "dev",
        max_queries: int | None = None,
    ) -> None:
        if layout not in ("xquadr", "mmarco"):
            raise ValueError(f"layout must be 'xquadr' or 'mmarco', got {layout!r}")
        self.root, self.layout, self.split, self.max_queries = Path(root), layout, split, max_queries
        self.name = str(self.root)
        if layout == "xquadr":
            self._query_files = {lang: xquadr_paths(self.root, lang).queries
                                 for lang in xquadr_query_languages(self.root)}
            self._doc_files = {lang: xquadr_paths(self.root, lang).candidates
                               for lang in xquadr_languages(self.root)}
            self._qrels_file = xquadr_paths(self.root, "en").qrels
        else:
            files = mmarco_layout(self.root)
            # Every query file of the split, under the code asked for when a file uses a name.
            self._query_files = dict(files.queries.get(split, {}))
            self._doc_files = dict(files.collections)
            for lang in langs:
                key = files.resolve(lang)
                for table in (self._query_files, self._doc_files):
                    if key != lang and key in table:
                        table[lang] = table.pop(key)
            self._qrels_file = files.qrels.get(split)
            if files.unused(split):
                warnings.warn(f"{root}: not part of the mMARCO layout, not read: "
                              f"{', '.join(p.name for p in files.unused(split))}", DataFormatWarning, stacklevel=2)
        present = sorted(self._query_files)
        if not present or not self._doc_files:
            raise ValueError(f"{root}: no language of the {layout} layout found"
                             + (f" with {split} queries" if layout == "mmarco" else ""))
        self.languages = tuple(langs) or tuple(present)
        missing = [lang for lang in self.languages if lang not in present]
        if missing:
            raise ValueError(f"{root}: no {layout} files for {missing}; present: {present}")
        # Given languages keep their own documents (or, having none, search every collection);
        # by default every collection is searched, a language without queries included.
        chosen = tuple(lang for lang in self.languages if lang in self._doc_files) if langs else ()
        self.document_languages = chosen or tuple(sorted(self._doc_files))
        self.settings = available_settings(self.languages, self.document_languages)
        self._qrels: Qrels | None = None
        self._texts: dict[tuple[str, str], TextSet] = {}

    def _read(self, lang: str, kind: str) -> TextSet:
        if (lang, kind) not in self._texts:
            files = self._query_files if kind == "queries" else self._doc_files
            if lang not in files:
                raise ValueError(f"no {lang} {kind} in {self.root}")
            path = files[lang]
            if kind == "queries":
                records = collect_queries(read_queries_tsv(path, lang), source=path)
            else:
                records = collect_documents(read_documents_tsv(path, lang), source=path)
            self._texts[(lang, kind)] = _sorted_texts(records, lang)
        return self._texts[(lang, kind)]

    def queries_in(self, lang: str) -> TextSet:
        return self._read(lang, "queries")

    def documents_in(self, lang: str) -> TextSet:
        return self._read(lang, "documents")

    @property
    def qrels(self) -> Qrels:
        """The judgments every language shares."""
        if self._qrels is None:
            if self._qrels_file is None:
                raise ValueError(f"{self.root}: no qrels.{self.split}.tsv")
            self._qrels = read_qrels(self._qrels_file)
        return self._qrels

    def tasks(self, settings: Sequence[str] = SETTINGS) -> list[RetrievalTask]:
        tasks = []
        for setting, query_lang, doc_langs in parallel_setting_pairs(self.languages, settings, self.document_languages):
            queries, qrels = _limit(self.queries_in(query_lang), self.qrels, self.max_queries)
            if setting == "multi":
                documents = tuple(self.documents_in(lang).pooled() for lang in doc_langs)
                qrels = {
                    qid: {pooled_docid(docid, lang): rel for docid, rel in judged.items() for lang in doc_langs}
                    for qid, judged in qrels.items()
                }
            else:
                documents = (self.documents_in(doc_langs[0]),)
            tasks.append(RetrievalTask(setting, query_lang, doc_langs, queries, documents, qrels))
        return tasks


class CollectionSource:
    """One loaded :class:`~optical.data.collection.Collection` as one task.

    The task is ``mono`` when queries and documents share their one language, else ``cross``.
    :meth:`queries_in` knows the collection's own query language only.
    """

    parallel = False

    def __init__(self, collection: Collection, *, name: str = "", max_queries: int | None = None) -> None:
        if len(collection.query_languages) != 1:
            raise ValueError(f"{name or collection.name}: queries in {list(collection.query_languages)}; "
                             "one language is needed")
        self.collection, self.name, self.max_queries = collection, name or collection.name, max_queries
        self.languages = collection.query_languages
        doc_langs = collection.document_languages
        self.settings = ("mono",) if doc_langs == self.languages else ("cross",)

    def queries_in(self, lang: str) -> TextSet:
        if lang not in self.languages:
            raise ValueError(f"{self.name} has {self.languages[0]} queries only, not {lang}")
        return _text_set(self.collection, lang, "queries")

    def tasks(self, settings: Sequence[str] = ()) -> list[RetrievalTask]:
        if any(s not in self.settings for s in settings):
            raise ValueError(f"{self.name} has only the {self.settings[0]} setting")
        lang = self.languages[0]
        queries, qrels = _limit(self.queries_in(lang), self.collection.qrels, self.max_queries)
        doc_langs = self.collection.document_languages
        documents = tuple(TextSet(d, *_ids_texts(self.collection, d)) for d in doc_langs)
        return [RetrievalTask(self.settings[0], lang, doc_langs, queries, documents, qrels)]


def _ids_texts(collection: Collection, lang: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    ids = tuple(sorted(d for d, doc in collection.documents.items() if doc.lang == lang))
    return ids, tuple(collection.documents[i].text for i in ids)


def open_source(
    root: str | Path,
    *,
    layout: str = "auto",
    langs: Sequence[str] = (),
    split: str = "dev",
    max_queries: int | None = None,
    doc_lang: str = "en",
    topic_field: str = "title",
) -> Source:
    """Open a collection: a folder (``layout="auto"`` recognises WikiCLIR, XQuAD-R, mMARCO and TREC-style
    folders) or an ``ir_datasets`` id written ``irds:<id>``.

    ``langs`` selects languages; for a TREC-style folder or an ``ir_datasets`` id it names the
    query language (one code; default ``und``, or what the dataset says for ``irds:``), and
    ``doc_lang`` the documents' (TREC-style folders).  ``topic_field`` picks the TREC topic
    field used as the query text.
    """
    if str(root).startswith("irds:"):
        from optical.data.irds import load_irds

        query_lang = _one_lang(langs, root)
        collection = load_irds(str(root)[len("irds:"):], query_lang=query_lang)
        return CollectionSource(collection, name=str(root), max_queries=max_queries)
    root = Path(root)
    layout = detect_layout(root) if layout == "auto" else layout
    if layout == "wikiclir":
        return WikiClirSource(root, langs, max_queries=max_queries)
    if layout in ("xquadr", "mmarco"):
        return ParallelSource(root, langs, layout=layout, split=split, max_queries=max_queries)
    if layout == "trec":
        from optical.data.topics import load_trec_collection

        collection = load_trec_collection(root, _one_lang(langs, root) or "und", doc_lang,
                                          topic_field=topic_field)  # type: ignore[arg-type]
        return CollectionSource(collection, name=str(root), max_queries=max_queries)
    raise ValueError(f"unknown collection layout {layout!r}; known: auto, wikiclir, xquadr, mmarco, trec")


def _one_lang(langs: Sequence[str], root: str | Path) -> str | None:
    if len(langs) > 1:
        raise ValueError(f"{root}: one query language, got {list(langs)}")
    return langs[0] if langs else None


def read_query_file(path: str | Path, lang: str = "file") -> TextSet:
    """Queries from a ``qid<TAB>text`` file (e.g. the English version of each query), labelled ``lang``."""
    return _sorted_texts({q.qid: q for q in read_queries_tsv(path, lang)}, lang)
