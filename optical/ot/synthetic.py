"""Synthetic token sets with a planted alignment, for tests, benchmarks and the demonstration.

Real cross-lingual token alignments are far from the easy case of random unit vectors (whose
cosines all concentrate near 1, so Sinkhorn converges in a few iterations): most target tokens
have a close counterpart among the source tokens, some have none. :func:`planted_alignment`
reproduces that structure with a known ground truth.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ._problem import lengths_to_mask


@dataclass
class PlantedBatch:
    """Padded token sets ``x`` [B, n, d] and ``y`` [B, m, d] with their masks.

    ``alignment[k, j]`` is the source token that target token ``j`` copies, or -1 when the
    target token is unaligned (noise) or padding.
    """

    x: torch.Tensor
    y: torch.Tensor
    x_mask: torch.Tensor
    y_mask: torch.Tensor
    alignment: torch.Tensor


def planted_alignment(
    batch: int,
    n: int,
    m: int,
    d: int,
    *,
    aligned_fraction: float = 0.8,
    noise: float = 0.5,
    ragged: bool = True,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
) -> PlantedBatch:
    """Draw a batch where each target token is a noisy copy of a random source token.

    Lengths are uniform in ``[n/2, n]`` and ``[m/2, m]`` when ``ragged``; a fraction
    ``1 - aligned_fraction`` of target tokens are fresh random directions; ``noise`` is the norm
    ratio of the perturbation to the copied unit vector.
    """
    generator = torch.Generator().manual_seed(seed)
    if ragged:
        len_x = torch.randint(max(1, n // 2), n + 1, (batch,), generator=generator)
        len_y = torch.randint(max(1, m // 2), m + 1, (batch,), generator=generator)
    else:
        len_x = torch.full((batch,), n)
        len_y = torch.full((batch,), m)
    x = F.normalize(torch.randn(batch, n, d, generator=generator, dtype=torch.float64), dim=-1)
    source = (torch.rand(batch, m, generator=generator, dtype=torch.float64) * len_x[:, None]).long()
    aligned = torch.rand(batch, m, generator=generator, dtype=torch.float64) < aligned_fraction
    copies = torch.gather(x, 1, source.unsqueeze(2).expand(batch, m, d))
    perturbation = F.normalize(torch.randn(batch, m, d, generator=generator, dtype=torch.float64), dim=-1)
    fresh = F.normalize(torch.randn(batch, m, d, generator=generator, dtype=torch.float64), dim=-1)
    y = torch.where(aligned.unsqueeze(2), F.normalize(copies + noise * perturbation, dim=-1), fresh)
    x_mask, y_mask = lengths_to_mask(len_x, n), lengths_to_mask(len_y, m)
    x = x.masked_fill(~x_mask.unsqueeze(2), 0.0)
    y = y.masked_fill(~y_mask.unsqueeze(2), 0.0)
    alignment = torch.where(aligned & y_mask, source, torch.full_like(source, -1))
    return PlantedBatch(x.to(dtype), y.to(dtype), x_mask, y_mask, alignment)
