"""Hybrid batch training (Elmahdy et al., arXiv 2408.10536): batch samplers and the InfoNCE loss.

The training command, data builder and benchmark are not written yet (issue 6).
"""

from __future__ import annotations

from .loss import info_nce
from .sampler import MODES, Batch, HybridBatchSampler, TripletSet

__all__ = ["MODES", "Batch", "HybridBatchSampler", "TripletSet", "info_nce"]
