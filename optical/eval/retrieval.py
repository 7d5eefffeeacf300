r"""First-stage and second-stage retrieval: exact dense search and late-interaction re-ranking.

:func:`dense_search` scores :math:`s(q, d) = \langle \mathbf{q}, \mathbf{d} \rangle` (cosine for
normalised vectors) exactly, streaming over the documents in chunks and keeping a running top
:math:`k` per query, so the :math:`Q \times D` score matrix never exists: peak memory is
:math:`O(Q_c \cdot (C + k))` scores for a query chunk :math:`Q_c` and document chunk :math:`C`.
Document vectors may be a memory-mapped tensor or array larger than RAM; each chunk is moved to
the device of the query vectors (CPU or CUDA).

:func:`maxsim_rerank` re-scores candidate lists with ColBERT's MaxSim,
:math:`s(q, d) = \sum_i \max_j \cos(\mathbf{q}_i, \mathbf{d}_j)`, over token embeddings.

:func:`exact_ranks` gives the rank of chosen documents in the *full* ranking (what the rank
distance of :mod:`optical.eval.bias` needs), by counting, chunk by chunk, the documents ranked
above each one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from optical.data.trec import Run
from optical.models.scoring import maxsim_scores

__all__ = ["dense_search", "exact_ranks", "maxsim_rerank", "topk_to_run"]

VectorsLike = torch.Tensor | np.ndarray


def _chunk(vectors: VectorsLike, start: int, stop: int, like: torch.Tensor) -> torch.Tensor:
    block = vectors[start:stop]
    if isinstance(block, np.ndarray):
        block = torch.from_numpy(np.array(block))  # a copy: memory-mapped arrays are read-only
    return block.to(device=like.device, dtype=like.dtype, non_blocking=True)


def dense_search(
    query_vectors: torch.Tensor,
    doc_vectors: VectorsLike,
    k: int,
    *,
    chunk_size: int = 16384,
    query_chunk_size: int = 1024,
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Exact top-:math:`k` inner-product search, streaming over document chunks.

    For each chunk :math:`D_c` the scores :math:`Q D_c^\top` are cut to their top
    :math:`\min(k, |D_c|)`, concatenated with the running top :math:`k` and cut again
    (``torch.topk``), which is exact because the top :math:`k` of a union is inside the union of
    the top :math:`k` of its parts.

    Parameters
    ----------
    query_vectors
        ``[Q, d]``, on the device that does the work.
    doc_vectors
        ``[D, d]`` tensor or array (memory-mapped is fine); read ``chunk_size`` rows at a time.
    k
        Documents kept per query (at most ``D``).
    chunk_size, query_chunk_size
        Documents and queries per matrix product (they bound memory).

    Returns
    -------
    scores, indices
        ``[Q, min(k, D)]`` each, scores descending (on the queries' device).  Among equal scores
        at the cut the kept documents are unspecified; :func:`topk_to_run` then orders ties as
        ``trec_eval`` does.
    """
    if query_vectors.ndim != 2 or doc_vectors.ndim != 2:
        raise ValueError("query_vectors and doc_vectors must be 2-d ([n, dim])")
    if query_vectors.shape[1] != doc_vectors.shape[1]:
        raise ValueError(f"dimension mismatch: queries {query_vectors.shape[1]}, documents {doc_vectors.shape[1]}")
    if k < 1 or chunk_size < 1 or query_chunk_size < 1:
        raise ValueError("k, chunk_size and query_chunk_size must be >= 1")
    num_docs = doc_vectors.shape[0]
    keep = min(k, num_docs)
    device = query_vectors.device
    all_scores = torch.empty(query_vectors.shape[0], keep, dtype=query_vectors.dtype, device=device)
    all_indices = torch.empty(query_vectors.shape[0], keep, dtype=torch.long, device=device)
    with torch.inference_mode():
        for q_start in range(0, query_vectors.shape[0], query_chunk_size):
            queries = query_vectors[q_start:q_start + query_chunk_size]
            best_scores = torch.full((queries.shape[0], 0), float("-inf"), dtype=queries.dtype, device=device)
            best_indices = torch.empty((queries.shape[0], 0), dtype=torch.long, device=device)
            for start in range(0, num_docs, chunk_size):
                block = _chunk(doc_vectors, start, start + chunk_size, queries)
                scores = queries @ block.T
                top_scores, top_indices = torch.topk(scores, min(keep, block.shape[0]), dim=1)
                merged_scores = torch.cat([best_scores, top_scores], dim=1)
                merged_indices = torch.cat([best_indices, top_indices + start], dim=1)
                best_scores, order = torch.topk(merged_scores, min(keep, merged_scores.shape[1]), dim=1)
                best_indices = torch.gather(merged_indices, 1, order)
            all_scores[q_start:q_start + queries.shape[0]] = best_scores
            all_indices[q_start:q_start + queries.shape[0]] = best_indices
    return all_scores, all_indices


def topk_to_run(
    query_ids: Sequence[str], doc_ids: Sequence[str], scores: torch.Tensor, indices: torch.Tensor
) -> Run:
    """``{qid: [(docid, score), ...]}`` from :func:`dense_search` output, ties by docid descending (``trec_eval``)."""
    if len(query_ids) != scores.shape[0]:
        raise ValueError(f"{len(query_ids)} query ids for {scores.shape[0]} rows of scores")
    run: Run = {}
    for qid, row_scores, row_indices in zip(query_ids, scores.tolist(), indices.tolist(), strict=True):
        ranking = [(doc_ids[i], s) for s, i in zip(row_scores, row_indices, strict=True)]
        ranking.sort(key=lambda pair: pair[0], reverse=True)
        ranking.sort(key=lambda pair: pair[1], reverse=True)
        run[qid] = ranking
    return run


def exact_ranks(
    query_vectors: torch.Tensor,
    doc_vectors: VectorsLike,
    targets: Sequence[Sequence[int]],
    doc_ids: Sequence[str],
    *,
    chunk_size: int = 4096,
    query_chunk_size: int = 64,
) -> list[list[int]]:
    r"""Rank (1-based) of each target document in each query's full ranking.

    .. math::
        \mathrm{rank}(d) = 1 + |\{d' : s(q, d') > s(q, d)\}|
        + |\{d' : s(q, d') = s(q, d),\ \mathrm{id}(d') > \mathrm{id}(d)\}|,

    the position of :math:`d` in ``trec_eval``'s order (score descending, then docid descending).

    Parameters
    ----------
    query_vectors
        ``[Q, d]``.
    doc_vectors
        ``[D, d]`` (read ``chunk_size`` rows at a time).
    targets
        For query :math:`i`, the row indices of the documents whose ranks are wanted.
    doc_ids
        The ``D`` document ids (they order ties).
    """
    if len(targets) != query_vectors.shape[0]:
        raise ValueError(f"{len(targets)} target lists for {query_vectors.shape[0]} queries")
    device = query_vectors.device
    order = np.empty(len(doc_ids), dtype=np.int64)
    order[np.argsort(np.array(doc_ids, dtype=object), kind="stable")] = np.arange(len(doc_ids))
    id_order = torch.from_numpy(order).to(device)
    ranks: list[list[int]] = []
    with torch.inference_mode():
        for q_start in range(0, len(targets), query_chunk_size):
            queries = query_vectors[q_start:q_start + query_chunk_size]
            wanted = targets[q_start:q_start + queries.shape[0]]
            width = max((len(w) for w in wanted), default=0)
            if width == 0:
                ranks.extend([] for _ in wanted)
                continue
            index = torch.zeros(len(wanted), width, dtype=torch.long, device=device)
            present = torch.zeros(len(wanted), width, dtype=torch.bool, device=device)
            for row, items in enumerate(wanted):
                index[row, : len(items)] = torch.as_tensor(list(items), dtype=torch.long)
                present[row, : len(items)] = True
            # Target scores come from the very products used for counting (same chunks, same
            # shapes), so a document is never compared with a differently rounded copy of itself.
            target_scores = torch.zeros(len(wanted), width, dtype=queries.dtype, device=device)
            for start in range(0, doc_vectors.shape[0], chunk_size):
                inside = present & (index >= start) & (index < start + chunk_size)
                if not bool(inside.any()):
                    continue
                scores = queries @ _chunk(doc_vectors, start, start + chunk_size, queries).T
                local = (index - start).clamp(0, scores.shape[1] - 1)
                target_scores = torch.where(inside, torch.gather(scores, 1, local), target_scores)
            target_order = id_order[index]  # [Qc, T]
            above = torch.zeros(len(wanted), width, dtype=torch.long, device=device)
            for start in range(0, doc_vectors.shape[0], chunk_size):
                block = _chunk(doc_vectors, start, start + chunk_size, queries)
                scores = (queries @ block.T)[:, None, :]  # [Qc, 1, C]
                block_order = id_order[start:start + block.shape[0]][None, None, :]
                higher = scores > target_scores[:, :, None]
                tied = (scores == target_scores[:, :, None]) & (block_order > target_order[:, :, None])
                above += (higher | tied).sum(-1)
            for row, items in enumerate(wanted):
                ranks.append((above[row, : len(items)] + 1).tolist())
    return ranks


def maxsim_rerank(
    query_tokens: Mapping[str, torch.Tensor],
    doc_tokens: Mapping[str, torch.Tensor],
    candidates: Mapping[str, Sequence[tuple[str, float]]],
    *,
    k: int | None = None,
    batch_size: int = 128,
) -> Run:
    r"""Re-score each query's candidates with MaxSim and re-rank them.

    Parameters
    ----------
    query_tokens
        ``{qid: [Lq, d]}`` token embeddings of each query (only tokens that count: no padding,
        no special tokens).
    doc_tokens
        ``{docid: [Ld, d]}`` likewise for every candidate document.
    candidates
        A first-stage run ``{qid: [(docid, score), ...]}``; only its document ids are used.
    k
        Keep the top ``k`` after re-ranking (default: all candidates).
    batch_size
        Candidates scored per call of :func:`optical.models.maxsim_scores`.

    Returns
    -------
    Run
        ``{qid: [(docid, maxsim score), ...]}``, descending, ties by docid descending.
    """
    run: Run = {}
    for qid, ranked in candidates.items():
        if qid not in query_tokens:
            raise ValueError(f"no token embeddings for query {qid!r}")
        query = query_tokens[qid]
        docids = [docid for docid, _ in ranked]
        missing = [d for d in docids if d not in doc_tokens]
        if missing:
            raise ValueError(f"no token embeddings for {len(missing)} candidate(s) of {qid!r}, e.g. {missing[:3]}")
        scored: list[tuple[str, float]] = []
        query_mask = torch.ones(1, query.shape[0], dtype=torch.bool, device=query.device)
        for start in range(0, len(docids), batch_size):
            batch_ids = docids[start:start + batch_size]
            tokens = [doc_tokens[d].to(query.device, query.dtype) for d in batch_ids]
            length = max(t.shape[0] for t in tokens)
            padded = query.new_zeros(len(tokens), length, query.shape[1])
            mask = torch.zeros(len(tokens), length, dtype=torch.bool, device=query.device)
            for i, t in enumerate(tokens):
                padded[i, : t.shape[0]] = t
                mask[i, : t.shape[0]] = True
            scores = maxsim_scores(query[None], query_mask, padded, mask)[0]
            scored.extend(zip(batch_ids, scores.tolist(), strict=True))
        scored.sort(key=lambda pair: pair[0], reverse=True)
        scored.sort(key=lambda pair: pair[1], reverse=True)
        run[qid] = scored[:k] if k is not None else scored
    return run
