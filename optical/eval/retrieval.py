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

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch

from optical.data.trec import Run
from optical.models.scoring import maxsim_scores

__all__ = [
    "check_search", "dense_search", "exact_ranks", "max_norm", "maxsim_rerank", "refine_topk", "rescore",
    "stream_topk", "tie_keys", "topk_to_run",
]

VectorsLike = torch.Tensor | np.ndarray


def _chunk(vectors: VectorsLike, start: int, stop: int, like: torch.Tensor) -> torch.Tensor:
    block = vectors[start:stop]
    if isinstance(block, np.ndarray):
        block = torch.from_numpy(np.array(block))  # a copy: memory-mapped arrays are read-only
    return block.to(device=like.device, dtype=like.dtype, non_blocking=True)


def check_search(query_vectors: torch.Tensor, doc_vectors: VectorsLike, k: int, *sizes: int) -> None:
    """Raise ``ValueError`` unless both sides are 2-d of one width and ``k`` and every size are >= 1."""
    if query_vectors.ndim != 2 or doc_vectors.ndim != 2:
        raise ValueError("query_vectors and doc_vectors must be 2-d ([n, dim])")
    if query_vectors.shape[1] != doc_vectors.shape[1]:
        raise ValueError(f"dimension mismatch: queries {query_vectors.shape[1]}, documents {doc_vectors.shape[1]}")
    if k < 1 or any(size < 1 for size in sizes):
        raise ValueError("k, chunk_size and query_chunk_size must be >= 1")


def stream_topk(
    query_vectors: torch.Tensor,
    doc_vectors: VectorsLike,
    k: int,
    *,
    chunk_size: int = 16384,
    query_chunk_size: int = 1024,
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Top-:math:`k` inner products by one matrix product per chunk (the brute-force candidates).

    For each chunk :math:`D_c` the scores :math:`Q D_c^\top` are cut to their top
    :math:`\min(k, |D_c|)`, concatenated with the running top :math:`k` and cut again
    (``torch.topk``), which is exact because the top :math:`k` of a union is inside the union of
    the top :math:`k` of its parts.  Scores carry the rounding of the matrix product (it depends
    on the chunk shapes) and the order among equal scores is unspecified: :func:`dense_search`
    refines both.

    Returns
    -------
    scores, indices
        ``[Q, min(k, D)]`` each, scores descending (on the queries' device).
    """
    check_search(query_vectors, doc_vectors, k, chunk_size, query_chunk_size)
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


def max_norm(doc_vectors: VectorsLike, chunk_size: int = 65536) -> float:
    """Largest L2 norm of the rows of ``doc_vectors`` (read in chunks; float64)."""
    largest = 0.0
    for start in range(0, doc_vectors.shape[0], chunk_size):
        block = doc_vectors[start:start + chunk_size]
        block = torch.from_numpy(np.array(block, dtype=np.float64)) if isinstance(block, np.ndarray) else block
        largest = max(largest, float(block.detach().to(torch.float64).norm(dim=1).max()))
    return largest


def tie_keys(num_docs: int, doc_ids: Sequence[str] | None) -> torch.Tensor:
    """Per document, a key that orders equal scores: larger keys first.

    With ids, the position of each id in ascending string order (so ties go by docid descending,
    as ``trec_eval`` orders them); without, ``-index`` (ties by row, first row first).
    """
    if doc_ids is None:
        return -torch.arange(num_docs, dtype=torch.long)
    if len(doc_ids) != num_docs:
        raise ValueError(f"{len(doc_ids)} document ids for {num_docs} document vectors")
    keys = np.empty(num_docs, dtype=np.int64)
    keys[np.argsort(np.array(doc_ids, dtype=object), kind="stable")] = np.arange(num_docs)
    return torch.from_numpy(keys)


def rescore(query_vectors: torch.Tensor, doc_vectors: VectorsLike, indices: torch.Tensor) -> torch.Tensor:
    """Inner products of each query with its ``indices`` documents, in float64, one pair at a time.

    Every backend's candidates are scored here, so a (query, document) pair has one score whatever
    found it, and the shapes of a matrix product never change its rounding.
    """
    queries = query_vectors.detach().to("cpu", torch.float64)
    flat = indices.reshape(-1).cpu()
    unique, inverse = torch.unique(flat, return_inverse=True)
    rows = doc_vectors[unique.numpy()] if isinstance(doc_vectors, np.ndarray) else doc_vectors[unique.to(
        doc_vectors.device)]
    rows = torch.from_numpy(np.asarray(rows)) if isinstance(rows, np.ndarray) else rows
    rows = rows.detach().to("cpu", torch.float64)
    out = torch.empty(indices.shape, dtype=torch.float64)
    width = max(indices.shape[1], 1)
    step = max(1, (1 << 21) // (width * queries.shape[1] + 1))  # bounds the [step, width, dim] product
    inverse = inverse.reshape(indices.shape)
    for start in range(0, indices.shape[0], step):
        block = rows[inverse[start:start + step]]
        out[start:start + step] = (queries[start:start + step, None, :] * block).sum(-1)
    return out


Candidates = Callable[[torch.Tensor, int], tuple[torch.Tensor, torch.Tensor]]


def refine_topk(
    query_vectors: torch.Tensor,
    doc_vectors: VectorsLike,
    k: int,
    candidates: Candidates,
    *,
    doc_ids: Sequence[str] | None = None,
    unit_roundoff: float | None = None,
    doc_norm: float | None = None,
    margin: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""The exact top :math:`k` from a backend's candidates: rescored, tie-broken, and proven complete.

    ``candidates(rows, n)`` returns the top ``n`` documents of the queries ``rows`` by the
    backend's own floating-point scores (a matrix product, a FAISS index).  Those scores differ
    from the exact inner products by at most :math:`\gamma = 2 (d + 2) u \lVert q \rVert
    \max_j \lVert d_j \rVert` (:math:`u` the unit roundoff of the backend's arithmetic). The
    candidates are rescored by :func:`rescore`, rounded to the queries' dtype and ordered by score
    descending, then by :func:`tie_keys`; the first :math:`k` are the answer when the last
    candidate's backend score plus :math:`\gamma` is below the :math:`k`-th score, because then
    no document outside the candidates can reach it.  Otherwise the query is asked again with
    twice as many candidates (up to all documents).  So any exact backend gives the same scores,
    documents and order, bit for bit.

    With ``unit_roundoff=None`` the candidates are taken as they come (an approximate index):
    rescored and ordered, never extended.

    Returns
    -------
    scores, indices
        ``[Q, min(k, D)]`` each, in the queries' dtype and on their device.
    """
    num_docs = doc_vectors.shape[0]
    keep = min(k, num_docs)
    count = query_vectors.shape[0]
    keys = tie_keys(num_docs, doc_ids)
    out_scores = torch.empty(count, keep, dtype=query_vectors.dtype)
    out_indices = torch.empty(count, keep, dtype=torch.long)
    if keep == 0 or count == 0:
        return out_scores.to(query_vectors.device), out_indices.to(query_vectors.device)
    exact = unit_roundoff is not None
    if exact:
        dim = query_vectors.shape[1]
        norm = max_norm(doc_vectors) if doc_norm is None else doc_norm
        query_norms = query_vectors.detach().to("cpu", torch.float64).norm(dim=1)
        slack = 2.0 * (dim + 2) * unit_roundoff * query_norms * norm
    width = min(num_docs, keep + (max(16, keep // 4) if margin is None else margin)) if exact else keep
    pending = torch.arange(count)
    while pending.numel():
        fast_scores, indices = candidates(pending, width)
        fast_scores, indices = fast_scores.cpu(), indices.cpu()
        scores = rescore(query_vectors[pending.to(query_vectors.device)], doc_vectors, indices)
        scores = scores.to(query_vectors.dtype)
        # Two stable sorts: tie key descending, then score descending.
        order = torch.sort(keys[indices], dim=1, descending=True, stable=True).indices
        scores, indices = torch.gather(scores, 1, order), torch.gather(indices, 1, order)
        fast_scores = torch.gather(fast_scores, 1, order)
        order = torch.sort(scores, dim=1, descending=True, stable=True).indices
        scores, indices = torch.gather(scores, 1, order)[:, :keep], torch.gather(indices, 1, order)[:, :keep]
        if exact and width < num_docs:
            lowest = fast_scores.min(dim=1).values.double()
            done = lowest + slack[pending] < scores[:, -1].double()
        else:
            done = torch.ones(pending.numel(), dtype=torch.bool)
        out_scores[pending[done]] = scores[done]
        out_indices[pending[done]] = indices[done]
        pending = pending[~done]
        width = min(num_docs, 2 * width)
    return out_scores.to(query_vectors.device), out_indices.to(query_vectors.device)


def dense_search(
    query_vectors: torch.Tensor,
    doc_vectors: VectorsLike,
    k: int,
    *,
    chunk_size: int = 16384,
    query_chunk_size: int = 1024,
    doc_ids: Sequence[str] | None = None,
    doc_norm: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Exact top-:math:`k` inner-product search by brute force, streaming over document chunks.

    Candidates come from :func:`stream_topk` and are made exact by :func:`refine_topk`: scores
    are the float64 inner products rounded to the queries' dtype, and the kept documents and
    their order follow score descending, then docid descending (``doc_ids`` given) or row
    ascending.  :class:`optical.eval.index.DenseIndex` returns the same, bit for bit.

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
    doc_ids
        The ``D`` document ids: equal scores at the cut keep the larger id, as ``trec_eval``
        ranks them.
    doc_norm
        :func:`max_norm` of ``doc_vectors`` if known (else one more pass over them computes it).

    Returns
    -------
    scores, indices
        ``[Q, min(k, D)]`` each, in ranking order (on the queries' device).
    """

    def candidates(rows: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        return stream_topk(query_vectors[rows.to(query_vectors.device)], doc_vectors, n,
                           chunk_size=chunk_size, query_chunk_size=query_chunk_size)

    check_search(query_vectors, doc_vectors, k, chunk_size, query_chunk_size)
    roundoff = torch.finfo(query_vectors.dtype).eps / 2
    return refine_topk(query_vectors, doc_vectors, k, candidates, doc_ids=doc_ids, unit_roundoff=roundoff,
                       doc_norm=doc_norm)


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
