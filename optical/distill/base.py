"""What every distillation objective shares: its output type and the teacher-side conventions."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from optical.models import TokenBatch


@dataclass
class ObjectiveOutput:
    """A loss to minimise and the numbers the objective wants logged (plain floats)."""

    loss: torch.Tensor
    logs: dict[str, float] = field(default_factory=dict)


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
