"""Contrastive distillation: each foreign sentence must find its English teacher vector."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import Objective, ObjectiveOutput, pooled


class NCEObjective(Objective):
    r"""InfoNCE of the student's foreign sentences against the teacher's English sentences.

    With normalised pooled vectors :math:`s_k` (student) and :math:`t_k` (teacher),
    :math:`\mathcal L = -\frac1B \sum_k \log \frac{e^{s_k \cdot t_k / T}}{\sum_l e^{s_k \cdot t_l / T}}`:
    the other pairs of the batch are the negatives (and any extra English sentences appended to
    the teacher's batch: mined hard negatives). Unlike MSE it cannot be minimised by
    collapsing every sentence onto the mean teacher vector.

    Reference: A. van den Oord, Y. Li and O. Vinyals, "Representation Learning with Contrastive
    Predictive Coding", 2018; as a bitext objective, e.g. Feng et al., "Language-agnostic BERT
    Sentence Embedding", ACL 2022.

    Examples
    --------
    >>> from optical.models.tiny import tiny_encoder
    >>> encoder = tiny_encoder(["hello", "world", "habari", "dunia"])
    >>> teacher = encoder.encode_tokens(["hello", "world"])
    >>> out = NCEObjective(temperature=0.05)(teacher, encoder.encode_tokens(["habari", "dunia"]))
    >>> round(out.logs["accuracy"], 1) in (0.0, 0.5, 1.0)
    True
    """

    def __init__(self, temperature: float = 0.05, pooling: str = "mean") -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.temperature = temperature
        self.pooling = pooling

    def forward(self, teacher, student) -> ObjectiveOutput:
        targets = F.normalize(pooled(teacher, self.pooling).detach(), dim=-1)
        queries = F.normalize(pooled(student, self.pooling), dim=-1)
        logits = queries @ targets.T / self.temperature
        labels = torch.arange(len(logits), device=logits.device)
        loss = F.cross_entropy(logits, labels)
        accuracy = float((logits.detach().argmax(1) == labels).float().mean())
        return ObjectiveOutput(loss, {"nce": float(loss.detach()), "accuracy": accuracy}, shown=("nce",))
