"""Distillation objectives: one per module, each ``forward(teacher, student) -> ObjectiveOutput``.

- :class:`OTObjective` (``ot``): OPTICAL's transport loss between token sets;
- :class:`MSEObjective` (``mse``), :class:`TokenMSEObjective` (``token-mse``),
  :class:`NCEObjective` (``nce``): the baselines;
- :class:`WeightedObjectives`: sums such as ``ot+mse`` and ``ot+nce``.
"""

from __future__ import annotations

from .base import Objective, ObjectiveOutput
from .combined import WeightedObjectives
from .mse import MSEObjective
from .nce import NCEObjective
from .ot import OTObjective
from .token_mse import TokenMSEObjective

__all__ = [
    "MSEObjective",
    "NCEObjective",
    "OTObjective",
    "Objective",
    "ObjectiveOutput",
    "TokenMSEObjective",
    "WeightedObjectives",
]
