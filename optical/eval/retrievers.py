"""Retrievers that turn a :class:`~optical.eval.collections.RetrievalTask` into a run.

- :class:`DenseRetriever`: a query encoder and a document encoder (they may differ: a student
  for queries, a teacher for documents), a :class:`~optical.eval.index.DenseIndex` (exact by
  default: FAISS, or brute force without it) over cached document vectors, optionally
  re-ranked with MaxSim over token embeddings.
- :class:`BM25Retriever`: :class:`~optical.eval.bm25.BM25Index` over the task's documents.

Both give runs and the exact full-ranking ranks of chosen documents (for the rank distance).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Protocol

import numpy as np
import torch

from optical.data.trec import Run
from optical.eval.bm25 import BM25Index
from optical.eval.collections import TextSet
from optical.eval.encoding import encode_cached, encoder_fingerprint, token_embeddings
from optical.eval.index import DenseIndex, IndexConfig
from optical.eval.retrieval import exact_ranks, maxsim_rerank, topk_to_run
from optical.models import Encoder

__all__ = ["BM25Retriever", "DenseRetriever", "EncoderCache", "Retriever", "load_encoder", "shared_encoders"]

log = logging.getLogger(__name__)


class EncoderCache:
    """Loaded encoders by ``(path, device)``, so that systems sharing a model load it once.

    Examples
    --------
    >>> cache = EncoderCache()
    >>> len(cache)
    0
    """

    def __init__(self) -> None:
        self._loaded: dict[tuple[str, str], Encoder] = {}

    def load(self, path: str, device: str = "cpu") -> Encoder:
        """The encoder folder or hub name ``path`` on ``device``, in eval mode; loaded on first use."""
        key = (str(path), device)
        if key not in self._loaded:
            self._loaded[key] = Encoder.load(path).to(device).eval()
        return self._loaded[key]

    def clear(self) -> None:
        """Forget every loaded encoder (frees their memory once no retriever holds them)."""
        self._loaded.clear()

    def __len__(self) -> int:
        return len(self._loaded)


shared_encoders = EncoderCache()
"""The cache :func:`load_encoder` uses when given none: ``optical evaluate`` and the benchmarks share it."""


def load_encoder(path: str, device: str = "cpu", *, cache: EncoderCache | None = None) -> Encoder:
    """Load the encoder folder or hub name ``path`` onto ``device`` through ``cache``.

    ``cache`` defaults to :data:`shared_encoders`; pass an :class:`EncoderCache` of your own to
    keep the encoders of one evaluation apart (and free them with it).
    """
    return (shared_encoders if cache is None else cache).load(path, device)


def _concat_ids(parts: Sequence[TextSet]) -> list[str]:
    return [docid for part in parts for docid in part.ids]


class Retriever(Protocol):
    """What the evaluator needs from a retrieval system.

    ``has_full_ranking``: :meth:`ranks` is defined (a score for every document: dense and BM25
    yes, MaxSim re-ranking of a candidate list no).
    """

    name: str

    @property
    def has_full_ranking(self) -> bool: ...

    def search(self, queries: TextSet, documents: Sequence[TextSet], k: int) -> Run:
        """The top ``k`` documents per query, best first."""
        ...

    def ranks(
        self, queries: TextSet, documents: Sequence[TextSet], targets: Mapping[str, Sequence[str]]
    ) -> dict[str, dict[str, int]]:
        """``{qid: {docid: rank in the full ranking}}`` for the ``targets`` of each query."""
        ...

    def alignment_vectors(self, sentences: TextSet, pivot: TextSet) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Vectors of parallel ``sentences`` (as queries) and of their ``pivot`` versions (by the document
        side), for the alignment measures; ``None`` for a system without vectors."""
        ...

    def describe(self) -> dict:
        """What the report records about the system (its class, models, options)."""
        ...


class DenseRetriever:
    """Dual-encoder retrieval, optionally re-ranked by late interaction.

    Parameters
    ----------
    query_encoder, doc_encoder
        Encoders of queries (``kind="query"``) and documents (``kind="passage"``).
    device
        Where search runs (encoders should already be there).
    batch_size
        Texts per encoder forward pass.
    cache
        Use the on-disk encoded-text cache (:mod:`optical.eval.encoding`).
    chunk_size
        Documents per matrix product of brute-force search and of full-ranking ranks.
    index
        The dense index (:class:`~optical.eval.index.IndexConfig`; default exact), built once per
        document set.
    rerank_depth
        If set, re-rank the top ``rerank_depth`` documents with MaxSim (the run then holds
        those documents only).
    doc_token_cache
        A dict holding the document encoder's token states by ``(docid, text)``; pass the same
        dict to several retrievers that share a document encoder to encode documents once.
    """

    def __init__(
        self,
        query_encoder: Encoder,
        doc_encoder: Encoder,
        *,
        name: str = "dense",
        device: str = "cpu",
        batch_size: int = 64,
        cache: bool = True,
        chunk_size: int = 16384,
        rerank_depth: int | None = None,
        doc_token_cache: dict[tuple[str, str], torch.Tensor] | None = None,
        index: IndexConfig | None = None,
    ) -> None:
        self.name = name
        self.query_encoder, self.doc_encoder = query_encoder, doc_encoder
        self.device, self.batch_size, self.cache, self.chunk_size = device, batch_size, cache, chunk_size
        self.rerank_depth = rerank_depth
        self.index = index or IndexConfig(chunk_size=chunk_size)
        self._indexes: dict[tuple[TextSet, ...], DenseIndex] = {}
        self._fingerprints: dict[int, str] = {}
        self._memo: dict[tuple[int, str, TextSet], torch.Tensor] = {}
        # Document token states for MaxSim, by (docid, text): tasks sharing documents encode them once.
        self._doc_tokens = {} if doc_token_cache is None else doc_token_cache

    @property
    def has_full_ranking(self) -> bool:
        return self.rerank_depth is None

    def describe(self) -> dict:
        return {"retriever": type(self).__name__, "query_encoder": self.query_encoder.config.model,
                "doc_encoder": self.doc_encoder.config.model, "rerank": "maxsim" if self.rerank_depth else None}

    def alignment_vectors(self, sentences: TextSet, pivot: TextSet) -> tuple[torch.Tensor, torch.Tensor]:
        return self.vectors(sentences, "query"), self.vectors(pivot, "doc", kind="query")

    def vectors(self, texts: TextSet, side: str, kind: str | None = None) -> torch.Tensor:
        """Pooled vectors of ``texts`` by the ``side`` (``"query"`` or ``"doc"``) encoder, memoised."""
        encoder = self.query_encoder if side == "query" else self.doc_encoder
        kind = kind or ("query" if side == "query" else "passage")
        key = (id(encoder), kind, texts)
        if key not in self._memo:
            if id(encoder) not in self._fingerprints and self.cache:
                self._fingerprints[id(encoder)] = encoder_fingerprint(encoder)
            self._memo[key] = encode_cached(
                encoder, texts.ids, texts.texts, kind=kind, batch_size=self.batch_size, cache=self.cache,
                fingerprint=self._fingerprints.get(id(encoder)),
            )
        return self._memo[key]

    def _doc_vectors(self, documents: Sequence[TextSet]) -> torch.Tensor:
        parts = [self.vectors(part, "doc") for part in documents]
        return parts[0] if len(parts) == 1 else torch.cat(parts)

    def search(self, queries: TextSet, documents: Sequence[TextSet], k: int) -> Run:
        query_vectors = self.vectors(queries, "query").to(self.device)
        doc_ids = _concat_ids(documents)
        depth = max(k, self.rerank_depth or 0)
        key = tuple(documents)
        if key not in self._indexes:
            self._indexes[key] = DenseIndex(self._doc_vectors(documents), self.index, doc_ids=doc_ids)
        scores, indices = self._indexes[key].search(query_vectors, depth)
        run = topk_to_run(list(queries.ids), doc_ids, scores.cpu(), indices.cpu())
        if self.rerank_depth is None:
            return {qid: ranking[:k] for qid, ranking in run.items()}
        return self._rerank(queries, documents, {qid: r[: self.rerank_depth] for qid, r in run.items()})

    def _rerank(self, queries: TextSet, documents: Sequence[TextSet], candidates: Run) -> Run:
        wanted = sorted({docid for ranking in candidates.values() for docid, _ in ranking})
        texts = {docid: text for part in documents for docid, text in zip(part.ids, part.texts, strict=True)}
        missing = [d for d in wanted if (d, texts[d]) not in self._doc_tokens]
        for docid, states in zip(missing, token_embeddings(
            self.doc_encoder, [texts[d] for d in missing], kind="passage", batch_size=self.batch_size
        ), strict=True):
            self._doc_tokens[(docid, texts[docid])] = states
        doc_tokens = {d: self._doc_tokens[(d, texts[d])] for d in wanted}
        query_tokens = dict(zip(queries.ids, token_embeddings(
            self.query_encoder, list(queries.texts), kind="query", batch_size=self.batch_size
        ), strict=True))
        return maxsim_rerank(query_tokens, doc_tokens, candidates)

    def ranks(
        self, queries: TextSet, documents: Sequence[TextSet], targets: Mapping[str, Sequence[str]]
    ) -> dict[str, dict[str, int]]:
        if self.rerank_depth is not None:
            raise ValueError("full-ranking ranks are defined for dense scoring only, not for MaxSim re-ranking")
        doc_ids = _concat_ids(documents)
        position = {docid: i for i, docid in enumerate(doc_ids)}
        wanted = [[position[d] for d in targets.get(qid, ())] for qid in queries.ids]
        query_vectors = self.vectors(queries, "query").to(self.device)
        ranks = exact_ranks(query_vectors, self._doc_vectors(documents), wanted, doc_ids, chunk_size=self.chunk_size)
        return {
            qid: dict(zip(targets.get(qid, ()), row, strict=True))
            for qid, row in zip(queries.ids, ranks, strict=True)
        }


class BM25Retriever:
    """BM25 over each task's documents (an index is built once per document set)."""

    def __init__(self, *, name: str = "bm25", k1: float = 0.9, b: float = 0.4) -> None:
        self.name, self.k1, self.b = name, k1, b
        self._indexes: dict[tuple[TextSet, ...], BM25Index] = {}

    has_full_ranking = True

    def describe(self) -> dict:
        return {"retriever": type(self).__name__}

    def alignment_vectors(self, sentences: TextSet, pivot: TextSet) -> None:
        return None

    def _index(self, documents: Sequence[TextSet]) -> BM25Index:
        key = tuple(documents)
        if key not in self._indexes:
            texts = [text for part in documents for text in part.texts]
            self._indexes[key] = BM25Index(_concat_ids(documents), texts, k1=self.k1, b=self.b)
        return self._indexes[key]

    def search(self, queries: TextSet, documents: Sequence[TextSet], k: int) -> Run:
        return self._index(documents).search(dict(zip(queries.ids, queries.texts, strict=True)), k)

    def ranks(
        self, queries: TextSet, documents: Sequence[TextSet], targets: Mapping[str, Sequence[str]]
    ) -> dict[str, dict[str, int]]:
        index = self._index(documents)
        ids = np.array(index.doc_ids, dtype=object)
        position = {docid: i for i, docid in enumerate(index.doc_ids)}
        result: dict[str, dict[str, int]] = {}
        for qid, text in zip(queries.ids, queries.texts, strict=True):
            scores = index.scores(text)
            result[qid] = {}
            for docid in targets.get(qid, ()):
                score = scores[position[docid]]
                tied_above = np.count_nonzero((scores == score) & (ids > docid))
                result[qid][docid] = 1 + int(np.count_nonzero(scores > score)) + int(tied_above)
        return result
