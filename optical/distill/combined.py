"""Weighted sums of objectives, e.g. ``ot+mse`` and ``ot+nce``."""

from __future__ import annotations

from torch import nn

from .base import Objective, ObjectiveOutput


class WeightedObjectives(Objective):
    r""":math:`\mathcal L = \sum_k w_k \mathcal L_k`, logging every part.

    Examples
    --------
    >>> from optical.distill import MSEObjective, OTObjective
    >>> both = WeightedObjectives({"ot": OTObjective(eps=0.05), "mse": MSEObjective()}, {"ot": 1.0, "mse": 0.5})
    """

    def __init__(self, parts: dict[str, Objective], weights: dict[str, float]) -> None:
        super().__init__()
        if set(parts) != set(weights):
            raise ValueError(f"weights {sorted(weights)} do not match objectives {sorted(parts)}")
        self.parts = nn.ModuleDict(parts)
        self.weights = dict(weights)

    def forward(self, teacher, student) -> ObjectiveOutput:
        total = None
        logs: dict[str, float] = {}
        for name, part in self.parts.items():
            out = part(teacher, student)
            logs.update(out.logs)
            term = self.weights[name] * out.loss
            total = term if total is None else total + term
        logs["loss"] = float(total.detach())
        return ObjectiveOutput(total, logs)
