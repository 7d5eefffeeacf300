"""Weighted sums of objectives, e.g. ``ot+mse`` and ``ot+nce``, with optional weight schedules."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from .base import Objective, ObjectiveOutput

SCHEDULES = ("constant", "warmup", "decay")


def weight_schedule(name: str) -> Callable[[float], float]:
    """A factor of training progress in [0, 1]: ``constant`` 1; ``warmup`` rises linearly to 1 over
    the first half; ``decay`` falls linearly from 1 to 0."""
    if name == "constant":
        return lambda progress: 1.0
    if name == "warmup":
        return lambda progress: min(1.0, 2.0 * progress)
    if name == "decay":
        return lambda progress: max(0.0, 1.0 - progress)
    raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, got {name!r}")


class WeightedObjectives(Objective):
    r""":math:`\mathcal L = \sum_k w_k\,f_k(t)\,\mathcal L_k`, logging every part.

    ``schedules`` maps a part to a schedule name (:func:`weight_schedule`); :math:`t` is the
    training progress in [0, 1] that the step function sets with :meth:`set_progress`.

    Examples
    --------
    >>> from optical.distill import MSEObjective, OTObjective
    >>> both = WeightedObjectives({"ot": OTObjective(eps=0.05), "mse": MSEObjective()}, {"ot": 1.0, "mse": 0.5})
    """

    def __init__(self, parts: dict[str, Objective], weights: dict[str, float],
                 schedules: dict[str, str] | None = None) -> None:
        super().__init__()
        if set(parts) != set(weights):
            raise ValueError(f"weights {sorted(weights)} do not match objectives {sorted(parts)}")
        self.parts = nn.ModuleDict(parts)
        self.weights = dict(weights)
        self.schedules = {name: weight_schedule((schedules or {}).get(name, "constant")) for name in parts}
        self.progress = 0.0

    def set_progress(self, progress: float) -> None:
        self.progress = progress

    def forward(self, teacher, student) -> ObjectiveOutput:
        total = None
        logs: dict[str, float] = {}
        shown: tuple[str, ...] = ("loss",)
        for name, part in self.parts.items():
            out = part(teacher, student)
            logs.update(out.logs)
            shown += tuple(k for k in out.shown if k not in shown)
            weight = self.weights[name] * self.schedules[name](self.progress)
            if weight != self.weights[name]:
                logs[f"{name}_weight"] = weight
            term = weight * out.loss
            total = term if total is None else total + term
        logs["loss"] = float(total.detach())
        return ObjectiveOutput(total, logs, shown=shown)
