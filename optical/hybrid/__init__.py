"""Hybrid batch training (Elmahdy et al., arXiv 2408.10536).

Batch samplers (mono, cross, hybrid), the InfoNCE loss and
``train_hybrid`` (the ``optical train-hybrid`` command), optionally with the distiller's OT loss
as an auxiliary term on parallel queries.
"""

from __future__ import annotations

from .loss import info_nce
from .sampler import MODES, Batch, HybridBatchSampler, TripletSet

__all__ = ["MODES", "Batch", "HybridBatchSampler", "TripletSet", "info_nce"]
