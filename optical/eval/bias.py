r"""Language bias and cross-lingual alignment of a multilingual retriever.

Rank distance (Huang et al., SIGIR 2023)
    In pooled multilingual retrieval every relevant passage :math:`p` exists in each language
    :math:`L \in \mathcal{L}` as :math:`p@L`.  An unbiased retriever ranks these parallel
    versions together; a biased one favours some languages.  For a query :math:`q` with relevant
    passages :math:`P_q` and the ranks :math:`r_q(\cdot)` in its full pooled ranking:

    .. math::
        \mathrm{RD}(q) = \frac{1}{|P_q|} \sum_{p \in P_q}
            \Big(\max_{L} r_q(p@L) - \min_{L} r_q(p@L)\Big),

    averaged over the queries of each query language, then macro-averaged over query languages.
    With one relevant passage per query (XQuAD-R) the inner mean is that passage's spread.

Alignment
    For sentences :math:`x_i` in one language and their translations :math:`y_i` in another,
    with unit-normalised representations:

    - mean parallel cosine :math:`\frac{1}{n}\sum_i \cos(x_i, y_i)`;
    - bitext retrieval accuracy (P@1): the share of :math:`i` with
      :math:`\arg\max_{j \in C} \cos(x_i, y_j) = i` over a candidate pool :math:`C` (all the
      :math:`y_j`, plus optional distractors); an exact tie with a wrong candidate counts as a miss.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from optical.data.xquadr import pooled_docid

__all__ = ["bitext_retrieval_accuracy", "language_bias", "mean_parallel_cosine", "rank_distance"]


def rank_distance(
    pooled_ranks: Mapping[str, Mapping[str, int]],
    relevant: Mapping[str, Sequence[str]],
    languages: Sequence[str],
) -> dict[str, float]:
    """Rank distance of each query (see the module docstring).

    Parameters
    ----------
    pooled_ranks
        ``{qid: {pooled docid: rank}}``, ranks (1-based) in the full pooled ranking, for at least
        every language version of every relevant passage; pooled ids are ``<cid>@<lang>``.
    relevant
        ``{qid: [cid, ...]}``: the relevant passages, by language-independent id.
    languages
        The languages of the pool.

    Returns
    -------
    dict
        ``{qid: RD(q)}`` for every query of ``relevant`` with at least one relevant passage.

    Raises
    ------
    ValueError
        When the rank of a language version is missing.
    """
    if len(languages) < 2:
        raise ValueError("rank distance needs a pool of at least two languages")
    distances: dict[str, float] = {}
    for qid, cids in relevant.items():
        if not cids:
            continue
        ranks = pooled_ranks.get(qid, {})
        spreads = []
        for cid in cids:
            versions = [pooled_docid(cid, lang) for lang in languages]
            missing = [v for v in versions if v not in ranks]
            if missing:
                raise ValueError(f"query {qid!r}: no rank for {missing[:3]} (rank distance needs full rankings)")
            positions = [ranks[v] for v in versions]
            spreads.append(max(positions) - min(positions))
        distances[qid] = float(np.mean(spreads))
    return distances


def language_bias(per_language: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """Mean rank distance per query language and their macro average (key ``"macro"``)."""
    means = {lang: float(np.mean(list(values.values()))) for lang, values in per_language.items() if values}
    if not means:
        raise ValueError("no query with a relevant passage: rank distance is undefined")
    return {**means, "macro": float(np.mean(list(means.values())))}


def _check_parallel(source: torch.Tensor, target: torch.Tensor) -> None:
    if source.shape != target.shape or source.ndim != 2 or source.shape[0] == 0:
        shapes = f"{tuple(source.shape)} and {tuple(target.shape)}"
        raise ValueError(f"need two non-empty [n, d] tensors of one shape, got {shapes}")


def mean_parallel_cosine(source: torch.Tensor, target: torch.Tensor) -> float:
    """Mean cosine of row-aligned pairs ``source[i]``, ``target[i]`` (``[n, d]`` each)."""
    _check_parallel(source, target)
    return float(F.cosine_similarity(source.float(), target.float(), dim=1).mean())


def bitext_retrieval_accuracy(
    source: torch.Tensor, target: torch.Tensor, distractors: torch.Tensor | None = None
) -> float:
    """P@1 of retrieving ``target[i]`` for ``source[i]`` among all targets (and ``distractors``) by cosine."""
    _check_parallel(source, target)
    pool = target if distractors is None else torch.cat([target, distractors.to(target.dtype)])
    similarities = F.normalize(source.float(), dim=1) @ F.normalize(pool.float(), dim=1).T
    index = torch.arange(source.shape[0])
    own = similarities[index, index].clone()
    similarities[index, index] = float("-inf")
    return float((own > similarities.max(dim=1).values).float().mean())
