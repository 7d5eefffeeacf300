"""The training loop shared by distillation and hybrid batch training."""

from __future__ import annotations

from .loop import CHECKPOINT, TrainConfig, TrainResult, config_fingerprint, learning_rate_factor, train
from .sampler import EpochSampler

__all__ = ["CHECKPOINT", "EpochSampler", "TrainConfig", "TrainResult", "config_fingerprint",
           "learning_rate_factor", "train"]
