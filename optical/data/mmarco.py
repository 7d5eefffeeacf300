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
(``doc_lang``): the same qrels hold.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from optical.data._lines import (
    PathLike,
    check_writable_id,
    iter_lines,
    open_text_for_write,
)
from optical.data.collection import Collection, collect_documents, collect_queries, read_documents_tsv, read_queries_tsv
from optical.data.errors import BadLines, OnError, check_on_error
from optical.data.languages import language_name
from optical.data.records import Triple
from optical.data.trec import read_qrels

TRIPLES_NAMES = ("triples.train.ids.tsv", "triples.train.ids.small.tsv")


def _find(root: Path, name: str, subdirs: Iterable[str]) -> Path:
    candidates = [root / name] + [root / sub / name for sub in subdirs]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    tried = ", ".join(str(c) for c in candidates)
    raise FileNotFoundError(f"mMARCO file {name} not found (looked for {tried})")


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
