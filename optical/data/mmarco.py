"""mMARCO (Bonifacio et al. 2021): MS MARCO passage ranking translated, ids shared across languages.

Files, per language (``<language>`` the lowercase English name: ``portuguese``, ``swahili``)::

    <language>_collection.tsv          pid<TAB>passage
    <language>_queries.<split>.tsv     qid<TAB>query          (split: train, dev, dev.small, ...)

and, shared by every language (MS MARCO's own)::

    qrels.<split>.tsv                  qid<TAB>0<TAB>pid<TAB>1
    triples.train.ids.tsv              qid<TAB>pos_pid<TAB>neg_pid   (also read: triples.train.ids.small.tsv)

The files may sit flat in one directory (as ``data_recipes`` writes them) or as mMARCO's
repository lays them out (``collections/``, ``queries/<split>/``); both are found.  Because the
ids are shared, a query in one language can be run against the collection of another
(``doc_lang``): the same qrels hold.  A language may bring queries only (``amharic_queries.test.tsv``
next to ``english_collection.tsv``): its queries are cross-lingual, against the other languages'
collections.  :func:`mmarco_layout` finds every file of the layout and lists the ones it does
not recognise; :func:`load_mmarco_training` reads the training triples with their texts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from optical.data._lines import (
    PathLike,
    check_writable_id,
    iter_lines,
    open_text_for_write,
)
from optical.data.collection import Collection, collect_documents, collect_queries, read_documents_tsv, read_queries_tsv
from optical.data.errors import BadLines, OnError, check_on_error
from optical.data.languages import language_code, language_name
from optical.data.records import Triple
from optical.data.trec import read_qrels

TRIPLES_NAMES = ("triples.train.ids.tsv", "triples.train.ids.small.tsv")
# Where mMARCO's repository puts its files (besides the flat layout data_recipes writes).
_SUBDIRS = ("collections", "data/google/collections", "queries", "qrels", "data", "triples")
_SPLIT_SUBDIRS = ("queries", "data/google/queries")
_COLLECTION = re.compile(r"(?P<name>.+)_collection\.tsv")
_QUERIES = re.compile(r"(?P<name>.+)_queries\.(?P<split>.+)\.tsv")
_QRELS = re.compile(r"qrels\.(?P<split>.+)\.tsv")
# Files that describe a folder rather than hold data.
_METADATA = re.compile(r"(manifest\.json|readme.*|license.*|\..*)", re.IGNORECASE)


def _find(root: Path, name: str, subdirs: Iterable[str]) -> Path:
    candidates = [root / name] + [root / sub / name for sub in subdirs]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    tried = ", ".join(str(c) for c in candidates)
    raise FileNotFoundError(f"mMARCO file {name} not found (looked for {tried})")


@dataclass(frozen=True)
class MmarcoLayout:
    """Every mMARCO file found under a root, by language code (see :func:`mmarco_layout`).

    Attributes
    ----------
    root
        The folder.
    collections
        ``{code: <language>_collection.tsv}``.
    queries
        ``{split: {code: <language>_queries.<split>.tsv}}``.
    qrels
        ``{split: qrels.<split>.tsv}``.
    triples
        The training triples file, if any.
    unrecognised
        Files under the folder that are not part of the layout (and are therefore never read).
    """

    root: Path
    collections: dict[str, Path] = field(default_factory=dict)
    queries: dict[str, dict[str, Path]] = field(default_factory=dict)
    qrels: dict[str, Path] = field(default_factory=dict)
    triples: Path | None = None
    unrecognised: tuple[Path, ...] = ()

    @property
    def document_languages(self) -> tuple[str, ...]:
        """Codes of the languages with a collection, sorted."""
        return tuple(sorted(self.collections))

    def query_languages(self, split: str) -> tuple[str, ...]:
        """Codes of the languages with queries of ``split``, sorted."""
        return tuple(sorted(self.queries.get(split, {})))

    def queries_only(self, split: str) -> tuple[str, ...]:
        """Languages with queries of ``split`` but no collection: their queries are cross-lingual only."""
        return tuple(lang for lang in self.query_languages(split) if lang not in self.collections)

    def unused(self, split: str) -> tuple[Path, ...]:
        """Files an evaluation of ``split`` does not read: unrecognised ones, and query files of a
        language that has no collection while no other collection exists to search."""
        stranded = [] if self.collections else list(self.queries.get(split, {}).values())
        return tuple(sorted([*self.unrecognised, *stranded]))

    def resolve(self, lang: str) -> str:
        """The code under which ``lang`` (a code, or a name a file uses) is known here; ``lang`` if absent."""
        known = {*self.collections, *(code for split in self.queries.values() for code in split)}
        if lang in known:
            return lang
        try:
            name = language_name(lang)
        except ValueError:
            return lang
        return name if name in known else lang


def mmarco_layout(root: PathLike) -> MmarcoLayout:
    """Find the collections, query files, qrels and triples under ``root`` (flat or nested as mMARCO's repository).

    A language's code is :func:`~optical.data.languages.language_code` of the name in the file
    (``amharic`` -> ``am``; a name no table knows stays as it is).
    """
    root = Path(root)
    folders = [root, *(root / sub for sub in _SUBDIRS)]
    folders += [folder for sub in _SPLIT_SUBDIRS for folder in sorted((root / sub).glob("*")) if folder.is_dir()]
    found = MmarcoLayout(root)
    unrecognised: list[Path] = []
    triples: list[Path] = []
    for folder in dict.fromkeys(folders):
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            if not path.is_file() or _METADATA.fullmatch(path.name):
                continue
            if match := _COLLECTION.fullmatch(path.name):
                found.collections.setdefault(language_code(match["name"]), path)
            elif match := _QUERIES.fullmatch(path.name):
                found.queries.setdefault(match["split"], {}).setdefault(language_code(match["name"]), path)
            elif match := _QRELS.fullmatch(path.name):
                found.qrels.setdefault(match["split"], path)
            elif path.name in TRIPLES_NAMES:
                triples.append(path)
            else:
                unrecognised.append(path)
    # The full triples file wins over the small one, as load_mmarco_triples reads them.
    triples.sort(key=lambda path: TRIPLES_NAMES.index(path.name))
    return MmarcoLayout(root, found.collections, found.queries, found.qrels, triples[0] if triples else None,
                        tuple(unrecognised))


def mmarco_collection_path(root: PathLike, lang: str) -> Path:
    """The ``<language>_collection.tsv`` of ``lang`` under ``root`` (flat or in ``collections/``)."""
    return _find(Path(root), f"{language_name(lang)}_collection.tsv", ["collections", "data/google/collections"])


def mmarco_queries_path(root: PathLike, lang: str, split: str) -> Path:
    """The ``<language>_queries.<split>.tsv`` of ``lang`` (flat, or in ``queries/<split>/``)."""
    folder = split.split(".")[0]
    return _find(
        Path(root),
        f"{language_name(lang)}_queries.{split}.tsv",
        [f"queries/{folder}", "queries", f"data/google/queries/{folder}"],
    )


def mmarco_qrels_path(root: PathLike, split: str) -> Path:
    """The ``qrels.<split>.tsv`` shared by all languages."""
    return _find(Path(root), f"qrels.{split}.tsv", ["qrels", "data"])


def read_triples(path: PathLike, *, on_error: OnError = "raise") -> Iterator[Triple]:
    """Stream ``qid<TAB>pos_pid<TAB>neg_pid`` training triples (whitespace-separated also accepted)."""
    check_on_error(on_error)
    return _read_triples(Path(path), on_error)


def _read_triples(path: Path, on_error: OnError) -> Iterator[Triple]:
    bad = BadLines(path, on_error)
    try:
        for number, line in iter_lines(path, bad):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 3:
                bad.report(number, f"expected 3 columns (qid pos_pid neg_pid), found {len(fields)}")
                continue
            yield Triple(*fields)
    finally:
        bad.warn_if_skipped()


def write_triples(path: PathLike, triples: Iterable[Triple]) -> int:
    """Write ``qid<TAB>pos_pid<TAB>neg_pid`` lines; returns the count."""
    written = 0
    with open_text_for_write(path) as out:
        for triple in triples:
            ids = [
                check_writable_id(triple.qid, "query id"),
                check_writable_id(triple.pos_docid, "positive id"),
                check_writable_id(triple.neg_docid, "negative id"),
            ]
            out.write("\t".join(ids) + "\n")
            written += 1
    return written


def load_mmarco_triples(root: PathLike, *, on_error: OnError = "raise") -> Iterator[Triple]:
    """Stream the training triples under ``root`` (``triples.train.ids[.small].tsv``)."""
    root = Path(root)
    for name in TRIPLES_NAMES:
        for candidate in (root / name, root / "triples" / name, root / "data" / name):
            if candidate.is_file():
                return read_triples(candidate, on_error=on_error)
    raise FileNotFoundError(f"no training triples ({' or '.join(TRIPLES_NAMES)}) under {root}")


def load_mmarco(
    root: PathLike,
    lang: str,
    split: str = "dev",
    *,
    doc_lang: str | None = None,
    judged_queries_only: bool = False,
    on_error: OnError = "raise",
) -> Collection:
    """Load the queries of ``split`` in ``lang``, a collection and the shared qrels.

    Parameters
    ----------
    root
        The directory holding the files (flat, or mMARCO's ``collections/`` and ``queries/``).
    lang
        Query language code.
    split
        ``"train"``, ``"dev"``, ``"dev.small"``, ``"test"``, ...: names both the queries file
        and ``qrels.<split>.tsv``.
    doc_lang
        Language of the collection (default ``lang``: monolingual).  Ids are shared, so any
        pair of built languages gives a cross-lingual task with the same qrels.
    judged_queries_only
        Drop queries without judgments (MS MARCO's ``queries.dev.tsv`` has many; ``dev.small``
        is the judged subset).
    on_error
        ``"raise"`` or ``"skip"`` malformed lines.

    Returns
    -------
    Collection
        Named ``mmarco/<lang>`` or ``mmarco/<lang>-<doc_lang>``; the qrels kept are those of
        the loaded queries.
    """
    doc_lang = doc_lang or lang
    queries_path = mmarco_queries_path(root, lang, split)
    collection_path = mmarco_collection_path(root, doc_lang)
    qrels = read_qrels(mmarco_qrels_path(root, split), columns=4, on_error=on_error)
    queries = collect_queries(read_queries_tsv(queries_path, lang, on_error=on_error), source=queries_path)
    if judged_queries_only:
        queries = {qid: q for qid, q in queries.items() if qid in qrels}
    return Collection(
        queries=queries,
        documents=collect_documents(
            read_documents_tsv(collection_path, doc_lang, on_error=on_error), source=collection_path
        ),
        qrels={qid: judged for qid, judged in qrels.items() if qid in queries},
        name=f"mmarco/{lang}/{split}" if doc_lang == lang else f"mmarco/{lang}-{doc_lang}/{split}",
    )


@dataclass(frozen=True)
class TrainingTexts:
    """Training triplets ``(qid, positive pid, negative pid)`` with every language's texts.

    ``queries[lang][qid]`` and ``passages[lang][pid]`` hold each language version (mMARCO ids
    are shared across languages).
    """

    name: str
    triplets: list[tuple[str, str, str]]
    queries: dict[str, dict[str, str]]
    passages: dict[str, dict[str, str]]


def load_mmarco_training(
    root: PathLike,
    langs: Sequence[str] = (),
    *,
    limit: int | None = None,
    split: str = "train",
    on_error: OnError = "raise",
) -> TrainingTexts:
    """The training triples under ``root`` with the ``split`` queries and the passages of each language.

    Parameters
    ----------
    root
        An mMARCO-layout folder with ``triples.train.ids[.small].tsv``.
    langs
        Language codes (default: every language with both ``split`` queries and a collection).
    limit
        Keep the first ``limit`` triplets.
    split
        The query split the triplets' query ids come from.
    on_error
        ``"raise"`` or ``"skip"`` malformed lines.

    Raises
    ------
    ValueError
        When no language is found, or a language lacks its queries or collection (the message
        names the folder, the language and where it looked).
    """
    root = Path(root)
    layout = mmarco_layout(root)
    if not langs:
        langs = tuple(lang for lang in layout.query_languages(split) if lang in layout.collections)
    if not langs:
        raise ValueError(f"{root}: no language with both <language>_queries.{split}.tsv and <language>_collection.tsv")
    queries: dict[str, dict[str, str]] = {}
    passages: dict[str, dict[str, str]] = {}
    for lang in langs:
        key = layout.resolve(lang)
        queries_path = layout.queries.get(split, {}).get(key)
        collection_path = layout.collections.get(key)
        if queries_path is None or collection_path is None:
            lacking = " and ".join(what for what, path in (("queries", queries_path), ("collection", collection_path))
                                   if path is None)
            raise ValueError(f"{root}: language {lang} has no {split} {lacking} file")
        queries[lang] = {q.qid: q.text for q in read_queries_tsv(queries_path, lang, on_error=on_error)}
        passages[lang] = {d.docid: d.text for d in read_documents_tsv(collection_path, lang, on_error=on_error)}
    triplets = []
    for triple in load_mmarco_triples(root, on_error=on_error):
        triplets.append((triple.qid, triple.pos_docid, triple.neg_docid))
        if limit is not None and len(triplets) >= limit:
            break
    return TrainingTexts(root.name, triplets, queries, passages)


def open_training(
    spec: PathLike, langs: Sequence[str] = (), *, limit: int | None = None, on_error: OnError = "raise"
) -> TrainingTexts:
    """Training triplets with their texts from an mMARCO-layout folder or ``irds:<id with {lang}>``.

    A folder goes to :func:`load_mmarco_training`, an ``ir_datasets`` spec to
    :func:`optical.data.irds.load_irds_training` (e.g. ``irds:mmarco/v2/{lang}/train``).
    """
    if str(spec).startswith("irds:"):
        from optical.data.irds import load_irds_training

        return load_irds_training(str(spec), langs, limit=limit)
    return load_mmarco_training(spec, langs, limit=limit, on_error=on_error)
