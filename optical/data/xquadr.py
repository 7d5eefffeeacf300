"""A multi-parallel retrieval set in the spirit of XQuAD-R / LAReQA (Roy et al., EMNLP 2020).

Every query and every candidate exists in each language, under the same id, so one set serves
monolingual (queries and candidates in X), cross-lingual (queries in X, candidates in Y) and
pooled multilingual retrieval (queries in X, candidates of all languages at once: every
translation of a relevant candidate is relevant, as in LAReQA).  Layout::

    <root>/queries/<code>.tsv       qid<TAB>text        one file per language, same qids
    <root>/candidates/<code>.tsv    cid<TAB>text        one file per language, same cids
    <root>/qrels.tsv                qid 0 cid relevance (TREC, shared by all languages)

In a pooled collection the document ids are ``<cid>@<code>``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from optical.data._lines import PathLike
from optical.data.collection import Collection, collect_documents, collect_queries, read_documents_tsv, read_queries_tsv
from optical.data.errors import OnError
from optical.data.records import Document
from optical.data.trec import read_qrels


@dataclass(frozen=True)
class XquadrPaths:
    """The files of one language, and the shared qrels."""

    queries: Path
    candidates: Path
    qrels: Path


def xquadr_paths(root: PathLike, lang: str) -> XquadrPaths:
    """Where the queries and candidates of ``lang`` and the shared qrels live under ``root``."""
    root = Path(root)
    return XquadrPaths(root / "queries" / f"{lang}.tsv", root / "candidates" / f"{lang}.tsv", root / "qrels.tsv")


def xquadr_languages(root: PathLike) -> tuple[str, ...]:
    """The language codes present (those with both a queries and a candidates file), sorted."""
    root = Path(root)
    queries = {p.stem for p in (root / "queries").glob("*.tsv")}
    candidates = {p.stem for p in (root / "candidates").glob("*.tsv")}
    return tuple(sorted(queries & candidates))


def xquadr_query_languages(root: PathLike) -> tuple[str, ...]:
    """The language codes with a queries file (a language may bring queries only), sorted."""
    return tuple(sorted(p.stem for p in (Path(root) / "queries").glob("*.tsv")))


def pooled_docid(cid: str, lang: str) -> str:
    """The document id of candidate ``cid`` in ``lang`` within a pooled multilingual collection."""
    return f"{cid}@{lang}"


def load_xquadr(
    root: PathLike,
    query_lang: str,
    candidate_langs: str | Sequence[str] | None = None,
    *,
    on_error: OnError = "raise",
) -> Collection:
    """Load queries in ``query_lang`` against candidates in one language or a pool of several.

    Parameters
    ----------
    root
        The set's directory.
    query_lang
        Language of the queries.
    candidate_langs
        ``None`` (monolingual: ``query_lang``), one code (cross-lingual), or several codes
        (pooled: document ids become ``<cid>@<code>`` and every translation of a relevant
        candidate is relevant with the same grade).
    on_error
        ``"raise"`` or ``"skip"`` malformed lines.
    """
    if candidate_langs is None:
        candidate_langs = query_lang
    langs = [candidate_langs] if isinstance(candidate_langs, str) else list(candidate_langs)
    if not langs:
        raise ValueError("candidate_langs is empty")
    pooled = len(langs) > 1
    query_paths = xquadr_paths(root, query_lang)
    queries = collect_queries(
        read_queries_tsv(query_paths.queries, query_lang, on_error=on_error), source=query_paths.queries
    )
    qrels = read_qrels(query_paths.qrels, on_error=on_error)
    documents: dict[str, Document] = {}
    for lang in langs:
        path = xquadr_paths(root, lang).candidates
        for docid, doc in collect_documents(read_documents_tsv(path, lang, on_error=on_error), source=path).items():
            if pooled:
                doc = Document(pooled_docid(docid, lang), doc.text, lang, doc.title)
            documents[doc.docid] = doc
    if pooled:
        qrels = {
            qid: {pooled_docid(cid, lang): rel for cid, rel in judged.items() for lang in langs}
            for qid, judged in qrels.items()
        }
    name = f"xquadr/{query_lang}-{'+'.join(langs)}"
    return Collection(queries=queries, documents=documents, qrels=qrels, name=name)
