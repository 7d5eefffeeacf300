"""InfoNCE with in-batch and hard negatives, the loss of hybrid batch training."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def info_nce(queries: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor | None,
             temperature: float = 0.05) -> torch.Tensor:
    r"""Contrastive loss of each query against every passage of the batch.

    With cosine scores :math:`s(q, p)`, query :math:`i` is scored against all positives (its own
    and the other queries', the in-batch negatives) and all hard negatives:

    .. math::
        \mathcal L = -\frac1B \sum_i \log
        \frac{e^{s(q_i, p_i)/T}}{\sum_j e^{s(q_i, p_j)/T} + \sum_j e^{s(q_i, n_j)/T}}.

    Reference: Elmahdy et al., "Hybrid batch training for multilingual dense retrieval", arXiv
    2408.10536; Karpukhin et al., "Dense Passage Retrieval", EMNLP 2020.

    Examples
    --------
    >>> import torch
    >>> q, p = torch.eye(3), torch.eye(3)
    >>> round(float(info_nce(q, p, None, temperature=0.01)), 6)
    0.0
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    passages = positives if negatives is None else torch.cat([positives, negatives])
    scores = F.normalize(queries, dim=-1) @ F.normalize(passages, dim=-1).T / temperature
    return F.cross_entropy(scores, torch.arange(len(queries), device=scores.device))
