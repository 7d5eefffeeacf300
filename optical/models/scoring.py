"""Query-document scores: pooled dual-encoder similarity and ColBERT-style late interaction."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def dense_scores(queries: torch.Tensor, documents: torch.Tensor) -> torch.Tensor:
    """Dot products [Q, D] of pooled vectors (cosine when both are normalised)."""
    return queries @ documents.T


def maxsim_scores(
    query_tokens: torch.Tensor,
    query_mask: torch.Tensor,
    doc_tokens: torch.Tensor,
    doc_mask: torch.Tensor,
    *,
    normalize: bool = True,
) -> torch.Tensor:
    r"""Late interaction (ColBERT): :math:`s(q, d) = \sum_{i \in q} \max_{j \in d} \cos(q_i, d_j)`.

    Shapes: queries [Q, Lq, d] with mask [Q, Lq], documents [D, Ld, d] with mask [D, Ld];
    returns [Q, D]. Masked query tokens add nothing; masked document tokens are never the max.
    """
    if normalize:
        query_tokens = F.normalize(query_tokens, dim=-1)
        doc_tokens = F.normalize(doc_tokens, dim=-1)
    similarities = torch.einsum("qid,pjd->qpij", query_tokens, doc_tokens)
    similarities = similarities.masked_fill(~doc_mask[None, :, None, :], float("-inf"))
    best = similarities.amax(-1)  # [Q, D, Lq]
    best = best.masked_fill(~query_mask[:, None, :], 0.0)
    return best.sum(-1)
