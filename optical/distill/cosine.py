"""Sentence-level cosine distillation: the anchor that the transport loss reduces to."""

from __future__ import annotations

import torch.nn.functional as F

from .base import Objective, ObjectiveOutput, paired_teacher, pooled


class CosineObjective(Objective):
    r"""One minus the cosine between pooled student (foreign) and teacher (English) vectors.

    :math:`\mathcal L = \frac1B\sum_k \big(1 - \cos(s_k, t_k)\big)`: the distance that retrieval
    sees (queries and documents are compared by cosine), on the same 0-2 scale as the transport
    loss's cosine cost. It is the control for what ``ot`` does at the default eps: when the
    transport plan is near uniform,
    :math:`\langle P, C\rangle \approx 1 - \langle \bar{\hat x}, \bar{\hat y}\rangle`, with
    :math:`\bar{\hat x}`, :math:`\bar{\hat y}` the means of the unit-length token states. That is a
    sentence-level anchor too, but one that also rewards the student for making its tokens
    parallel (a longer :math:`\bar{\hat y}`). This objective keeps the anchor and drops the reward.

    Examples
    --------
    >>> from optical.models.tiny import tiny_encoder
    >>> encoder = tiny_encoder(["hello", "habari"])
    >>> out = CosineObjective()(encoder.encode_tokens(["hello"]), encoder.encode_tokens(["habari"]))
    >>> out.loss.backward()
    """

    def __init__(self, pooling: str = "mean") -> None:
        super().__init__()
        self.pooling = pooling

    def forward(self, teacher, student) -> ObjectiveOutput:
        target = pooled(paired_teacher(teacher, student), self.pooling).detach()
        loss = (1 - F.cosine_similarity(pooled(student, self.pooling), target, dim=-1)).mean()
        return ObjectiveOutput(loss, {"cos": float(loss.detach())}, shown=("cos",))
