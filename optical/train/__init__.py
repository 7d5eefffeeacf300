"""The training loop shared by distillation and hybrid batch training."""

from __future__ import annotations

from .contract import Distributed, Sampler, SamplerSpec, StepFn, StepOutput
from .loop import CHECKPOINT, TrainConfig, TrainResult, config_fingerprint, learning_rate_factor, train
from .sampler import EpochSampler, LengthBucketSampler

__all__ = ["CHECKPOINT", "Distributed", "EpochSampler", "LengthBucketSampler", "Sampler", "SamplerSpec", "StepFn",
           "StepOutput", "TrainConfig", "TrainResult", "config_fingerprint", "learning_rate_factor", "train"]
