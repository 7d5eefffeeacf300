"""Typed records that every reader yields and every writer takes.

Records are frozen (hashable, safe to share between threads and data loaders) and carry the
language code of their text (ISO 639-1 where one exists, e.g. ``"sw"``, ``"en"``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Query:
    """A query: its id, its text and the language of that text."""

    qid: str
    text: str
    lang: str


@dataclass(frozen=True, slots=True)
class Document:
    """A document (or passage): its id, text, language and an optional title."""

    docid: str
    text: str
    lang: str
    title: str = ""


@dataclass(frozen=True, slots=True)
class Qrel:
    """One relevance judgment: ``relevance`` is an integer grade (0 = judged non-relevant)."""

    qid: str
    docid: str
    relevance: int


@dataclass(frozen=True, slots=True)
class BitextPair:
    """A translation pair: ``src`` in ``src_lang`` and ``tgt`` in ``tgt_lang``; ``pair_id`` when known."""

    src: str
    tgt: str
    src_lang: str
    tgt_lang: str
    pair_id: str | None = None


@dataclass(frozen=True, slots=True)
class RunEntry:
    """One line of a TREC run: ``qid Q0 docid rank score tag``."""

    qid: str
    docid: str
    rank: int
    score: float
    tag: str


@dataclass(frozen=True, slots=True)
class Triple:
    """A training triple: a query, a relevant (positive) and a non-relevant (negative) document id."""

    qid: str
    pos_docid: str
    neg_docid: str
