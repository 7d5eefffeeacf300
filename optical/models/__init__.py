"""Encoders (any transformers AutoModel) and query-document scoring."""

from __future__ import annotations

from .encoder import POOLINGS, Encoder, EncoderConfig, TokenBatch
from .scoring import dense_scores, maxsim_scores

__all__ = ["POOLINGS", "Encoder", "EncoderConfig", "TokenBatch", "dense_scores", "maxsim_scores"]
