"""Collections as evaluation tasks: which queries meet which documents, in which setting.

A :class:`RetrievalTask` is one row of a results table: a query language, the document
language(s), the setting, the queries, the documents and the qrels.  Two kinds of source make
tasks from the layouts of :mod:`optical.data`:

- :class:`WikiClirSource` (WikiCLIR layout): queries in each language against the one document
  language, the ``cross`` setting only (``x2en``, what ``data_recipes`` builds, or the
  distributed ``en2x``).
- :class:`ParallelSource` (XQuAD-R and mMARCO layouts): every query and document exists in every
  language under the same id, so it gives three settings:

  ``mono``   queries in X against documents in X, for every X;
  ``cross``  queries in X against documents in Y, for every ordered pair X != Y;
  ``multi``  queries in X against the pool of all languages' documents, ids ``<id>@<lang>``,
             where every language version of a relevant document is relevant with its grade.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from optical.data import (
    LANGUAGE_NAMES,
    Collection,
    load_mmarco,
    load_wikiclir,
    load_xquadr,
    read_queries_tsv,
    xquadr_languages,
)
from optical.data.trec import Qrels
from optical.data.wikiclir import read_wikiclir_queries, wikiclir_paths, wikiclir_root
from optical.data.xquadr import pooled_docid, xquadr_paths

__all__ = [
    "SETTINGS",
    "ParallelSource",
    "RetrievalTask",
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


def parallel_setting_pairs(langs: Sequence[str], settings: Sequence[str]) -> list[tuple[str, str, tuple[str, ...]]]:
    """``(setting, query language, document languages)`` for each task of ``settings`` over ``langs``."""
    unknown = [s for s in settings if s not in SETTINGS]
    if unknown:
        raise ValueError(f"unknown setting(s) {unknown}; known: {', '.join(SETTINGS)}")
    pairs: list[tuple[str, str, tuple[str, ...]]] = []
    for setting in settings:
        for x in langs:
            if setting == "mono":
                pairs.append((setting, x, (x,)))
            elif setting == "cross":
                pairs.extend((setting, x, (y,)) for y in langs if y != x)
            else:
                if len(langs) < 2:
                    raise ValueError("the multi setting needs at least two languages")
                pairs.append((setting, x, tuple(langs)))
    return pairs


def _text_set(collection: Collection, lang: str, kind: str) -> TextSet:
    records = collection.queries if kind == "queries" else collection.documents
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


class WikiClirSource:
    """A WikiCLIR-layout collection (either direction), one ``cross`` task per non-English language.

    For queries in another language than the tasks' own (:meth:`queries_in`), the English
    queries of an ``x2en`` collection are read from ``english/wiki_en.queries`` (WikiCLIR's own
    place for English queries) and another language's from its ``wiki_<code>.queries``.
    """

    settings = ("cross",)

    def __init__(self, root: str | Path, langs: Sequence[str] = (), *, max_queries: int | None = None) -> None:
        self.root = wikiclir_root(root)
        english = self.root / "english"
        self.direction = "x2en" if (english / "wiki_en.documents").is_file() else "en2x"
        present = sorted(
            code for code, name in LANGUAGE_NAMES.items()
            if code != "en" and wikiclir_paths(self.root, code, self.direction).qrels.is_file()
        )
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
        records = {q.qid: q for q in read_wikiclir_queries(path, lang)}
        ids = tuple(sorted(records))
        return TextSet(lang, ids, tuple(records[i].text for i in ids))


class ParallelSource:
    """A multi-parallel collection: the XQuAD-R layout, or mMARCO (``split`` names the query set)."""

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
        if layout == "xquadr":
            present = list(xquadr_languages(self.root))
        else:
            names = {name: code for code, name in LANGUAGE_NAMES.items()}
            present = sorted(
                names[p.name[: -len("_collection.tsv")]]
                for p in self.root.glob("*_collection.tsv")
                if p.name[: -len("_collection.tsv")] in names
            )
        if not present:
            raise ValueError(f"{root}: no language of the {layout} layout found")
        self.languages = tuple(langs) or tuple(present)
        missing = [lang for lang in self.languages if lang not in present]
        if missing:
            raise ValueError(f"{root}: no {layout} files for {missing}; present: {present}")
        # cross and multi need two languages; with one, monolingual is the only setting.
        self.settings = SETTINGS if len(self.languages) > 1 else ("mono",)
        self._loaded: dict[str, Collection] = {}

    def _collection(self, lang: str) -> Collection:
        if lang not in self._loaded:
            if self.layout == "xquadr":
                self._loaded[lang] = load_xquadr(self.root, lang)
            else:
                self._loaded[lang] = load_mmarco(self.root, lang, self.split)
        return self._loaded[lang]

    def queries_in(self, lang: str) -> TextSet:
        return _text_set(self._collection(lang), lang, "queries")

    def documents_in(self, lang: str) -> TextSet:
        return _text_set(self._collection(lang), lang, "documents")

    @property
    def qrels(self) -> Qrels:
        return self._collection(self.languages[0]).qrels

    def tasks(self, settings: Sequence[str] = SETTINGS) -> list[RetrievalTask]:
        tasks = []
        for setting, query_lang, doc_langs in parallel_setting_pairs(self.languages, settings):
            queries, qrels = _limit(self.queries_in(query_lang), self._collection(query_lang).qrels, self.max_queries)
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


def open_source(
    root: str | Path,
    *,
    layout: str = "auto",
    langs: Sequence[str] = (),
    split: str = "dev",
    max_queries: int | None = None,
) -> WikiClirSource | ParallelSource:
    """Open a collection directory; ``layout="auto"`` recognises WikiCLIR, XQuAD-R and mMARCO files."""
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"collection {root} is not a directory")
    if layout == "auto":
        if (root / "wiki-clir").is_dir() or root.name == "wiki-clir":
            layout = "wikiclir"
        elif xquadr_paths(root, "en").qrels.is_file() and (root / "candidates").is_dir():
            layout = "xquadr"
        elif any(root.glob("*_collection.tsv")):
            layout = "mmarco"
        else:
            raise ValueError(f"{root}: not a WikiCLIR (wiki-clir/), XQuAD-R (queries/, candidates/) or mMARCO layout")
    if layout == "wikiclir":
        return WikiClirSource(root, langs, max_queries=max_queries)
    if layout in ("xquadr", "mmarco"):
        return ParallelSource(root, langs, layout=layout, split=split, max_queries=max_queries)
    raise ValueError(f"unknown collection layout {layout!r}; known: auto, wikiclir, xquadr, mmarco")


def read_query_file(path: str | Path) -> TextSet:
    """Queries from a ``qid<TAB>text`` file (e.g. the English version of each query)."""
    records = {q.qid: q for q in read_queries_tsv(path, "file")}
    ids = tuple(sorted(records))
    return TextSet("file", ids, tuple(records[i].text for i in ids))
