"""Sentence-level MSE distillation (Reimers & Gurevych, EMNLP 2020)."""

from __future__ import annotations

import torch.nn.functional as F

from .base import Objective, ObjectiveOutput, paired_teacher, pooled


class MSEObjective(Objective):
    r"""Mean squared error between pooled student (foreign) and teacher (English) vectors.

    :math:`\mathcal L = \frac1{Bd}\sum_k \|s_k - t_k\|^2`.

    Reference: N. Reimers and I. Gurevych, "Making Monolingual Sentence Embeddings Multilingual
    using Knowledge Distillation", EMNLP 2020.

    Examples
    --------
    >>> from optical.models.tiny import tiny_encoder
    >>> encoder = tiny_encoder(["hello", "habari"])
    >>> out = MSEObjective()(encoder.encode_tokens(["hello"]), encoder.encode_tokens(["habari"]))
    >>> out.loss.backward()
    """

    def __init__(self, pooling: str = "mean") -> None:
        super().__init__()
        self.pooling = pooling

    def forward(self, teacher, student) -> ObjectiveOutput:
        target = pooled(paired_teacher(teacher, student), self.pooling).detach()
        loss = F.mse_loss(pooled(student, self.pooling), target)
        return ObjectiveOutput(loss, {"mse": float(loss.detach())}, shown=("mse",))
