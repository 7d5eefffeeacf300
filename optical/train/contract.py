"""What the training loop asks of a method: a step function that returns a :class:`StepOutput`,
and a sampler of batches that can be saved and restored.

A method (distillation, hybrid batches) supplies both; the loop never imports a method.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import torch
from torch import nn

# Logged numbers that are counts: summed over ranks, never averaged.
COUNTS = frozenset({"tokens", "truncated"})


@dataclass
class StepOutput:
    """One micro-batch's loss and the numbers to log with it.

    Attributes
    ----------
    loss : Tensor
        The scalar to minimise (with a graph to the trained parameters).
    logs : dict[str, float]
        Plain floats written to ``train.jsonl``; averaged over micro-batches and ranks, except
        the counts in :data:`COUNTS` (``tokens``, ``truncated``), which are summed over ranks.
    shown : tuple[str, ...]
        The keys of ``logs`` worth showing in the progress line (e.g. each loss term).
    """

    loss: torch.Tensor
    logs: dict[str, float] = field(default_factory=dict)
    shown: tuple[str, ...] = ()


@dataclass(frozen=True)
class Distributed:
    """This process's place in a ``torchrun`` job (a single process: rank 0 of 1)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


class StepFn(Protocol):
    """``step_fn(module, batch) -> StepOutput`` for one micro-batch of this rank.

    ``module`` is the trained model, wrapped in DDP under ``torchrun`` (its ``forward`` is the
    model's); ``batch`` is what the sampler's ``next_batch()`` returned.
    """

    def __call__(self, module: nn.Module, batch: Any) -> StepOutput: ...


@runtime_checkable
class Sampler(Protocol):
    """Draws this rank's batches; its state dict restores the exact sequence on resume."""

    def next_batch(self) -> Any: ...

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict) -> None: ...


# A sampler, or a function that builds one for this process's rank (per-rank seeds, shards).
SamplerSpec = Sampler | Callable[[Distributed], Sampler]
