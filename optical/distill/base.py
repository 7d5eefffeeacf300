"""What every distillation objective shares: its output type and the teacher-side conventions."""

from __future__ import annotations

import torch
from torch import nn

from optical.models import TokenBatch
from optical.train import StepOutput

# An objective's result is what the training loop takes from a step: a loss, the numbers to log,
# and which of them to show.
ObjectiveOutput = StepOutput


class Objective(nn.Module):
    """``forward(teacher, student) -> ObjectiveOutput``.

    ``teacher`` holds the frozen teacher's encoding of the English side (no gradient), ``student``
    the student's encoding of the foreign side of the same bitext pairs, row for row. The
    training loop knows nothing else about an objective.
    """

    pooling: str = "mean"

    def forward(self, teacher: TokenBatch, student: TokenBatch) -> ObjectiveOutput:  # pragma: no cover
        raise NotImplementedError


def pooled(batch: TokenBatch, pooling: str) -> torch.Tensor:
    """Unnormalised pooled vectors: the distillation targets keep their norms."""
    return batch.pooled(pooling, normalize=False)


def paired_teacher(teacher: TokenBatch, student: TokenBatch) -> TokenBatch:
    """The teacher rows that translate the student's rows.

    A contrastive step may append extra English sentences (mined hard negatives) to the
    teacher's batch; objectives that compare pairs use only the first ``len(student)`` rows.
    """
    rows = student.embeddings.shape[0]
    return teacher if teacher.embeddings.shape[0] == rows else teacher.select(list(range(rows)))
