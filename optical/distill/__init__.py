"""Distillation objectives: one per module, each ``forward(teacher, student) -> ObjectiveOutput``.

- :class:`OTObjective` (``ot``): OPTICAL's transport loss between token sets, configured by
  :class:`TransportOptions`;
- :class:`TokenSetNCEObjective` (``ot-contrast``, ``maxsim-contrast``): InfoNCE whose similarity
  is the transport cost (or MaxSim) between token sets;
- :class:`MSEObjective` (``mse``), :class:`CosineObjective` (``cos``),
  :class:`TokenMSEObjective` (``token-mse``), :class:`NCEObjective` (``nce``): the baselines;
- :class:`WeightedObjectives`: sums such as ``ot+mse`` and ``ot+nce``, with weight schedules;
- :class:`TeacherCache`: the frozen teacher's token states, computed once per text.
"""

from __future__ import annotations

from .base import Objective, ObjectiveOutput
from .combined import WeightedObjectives
from .cosine import CosineObjective
from .mse import MSEObjective
from .nce import NCEObjective
from .ot import OTObjective, TransportOptions
from .teacher_cache import TeacherCache
from .token_mse import TokenMSEObjective
from .token_nce import TokenSetNCEObjective

__all__ = [
    "CosineObjective",
    "MSEObjective",
    "NCEObjective",
    "OTObjective",
    "Objective",
    "ObjectiveOutput",
    "TeacherCache",
    "TokenMSEObjective",
    "TokenSetNCEObjective",
    "TransportOptions",
    "WeightedObjectives",
]
