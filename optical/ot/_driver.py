r"""The one loop both forward solvers run: epsilon stages, budgets, checks, per-item stopping.

A solver supplies an :class:`Engine` (the iteration itself); :func:`drive` decides when each
item is checked and when it stops, and retires converged items from the batched work so that
an easy item costs its own iterations, not those of the slowest item in its batch.

Every decision is taken per item from that item's own numbers, so an item solved in a batch
goes through exactly the iterates it would go through alone (same schedule and options).
Retired items leave the working set when at least one in ``1 / COMPACT_SHARE`` of its rows is
retired: compaction copies the working tensors, so it is batched up rather than done at every
retirement; until then a retired row is still computed but its result is already stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

# Compact the working set once this share of its rows has retired.
COMPACT_SHARE = 1 / 8


@dataclass(frozen=True)
class SinkhornState:
    """What a forward solve returns.

    Attributes
    ----------
    f, g : Tensor [B, n], [B, m]
        Potentials of the returned plan, ``-inf`` on padding.
    plan : Tensor [B, n, m] or None
        The plan when the solver built it; ``None``: build it from the potentials.
    iterations : ndarray [B] of int
        Full iterations each item ran, over all its epsilon stages.
    eps : float or Tensor [B]
        The stage each item ended in: a float when all ended in the same one (always, unless an
        item's budget ran out before the last stage), else per item.
    error : Tensor [B]
        Marginal error of the returned state as the item's last check measured it; NaN where no
        check saw the returned state (fixed-iteration log-domain solves).
    """

    f: torch.Tensor
    g: torch.Tensor
    plan: torch.Tensor | None
    iterations: np.ndarray
    eps: float | torch.Tensor
    error: torch.Tensor


class Engine(Protocol):
    """One Sinkhorn iteration over a working set of items (rows), and its bookkeeping.

    A working set holds the rows ``ids`` of the full batch; rows are addressed by boolean
    numpy masks over the working set.
    """

    start_iterations: int  # iterations spent before the first stage (an initial sweep)
    checks_without_tol: bool  # checks (for stability) even when no tolerance is asked for

    def start(self, stage: int, eps: float, ids: np.ndarray) -> None:
        """Load items ``ids`` from the full state into a fresh working set at ``eps``."""

    def half(self) -> None:
        """The first half of an iteration: what a check and the next step both need."""

    def ready(self) -> bool:
        """Whether a check can measure the current state."""

    def measure(self) -> torch.Tensor:
        """Marginal L1 error [W] of each working row's current state."""

    def on_check(
        self, checked: np.ndarray, error: np.ndarray, stage_iter: int, converged: np.ndarray, ending: np.ndarray
    ) -> None:
        """React to a check of rows ``checked`` (errors on host); ``converged`` and ``ending`` rows
        (budget spent) retire right after it."""

    def step(self, stage_iter: int, next_checked: bool) -> None:
        """The rest of the iteration, for every working row."""

    def retire(self, rows: np.ndarray, final: np.ndarray, error: torch.Tensor | None) -> None:
        """Store rows' state in the full state (``final``: for good, else for the next stage)."""

    def compact(self, keep: np.ndarray) -> None:
        """Drop the working rows not in ``keep``."""

    def finish(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """``(f, g, plan or None)`` of the full batch once every item retired for good."""


def drive(
    engine: Engine,
    batch: int,
    schedule: list[float],
    *,
    tol: float | None,
    stage_tol: float,
    max_iter: int,
    check_every: int,
    device: torch.device,
    dtype: torch.dtype,
) -> SinkhornState:
    """Run ``engine`` over the epsilon ``schedule``, stopping each item on its own.

    In the last stage an item stops once a check finds its marginal error at most ``tol``, or
    when ``max_iter`` iterations are spent on it in all; in earlier stages it stops at
    ``max(tol, stage_tol)`` and moves on to the next. Checks fall every ``check_every``
    iterations of a stage and at the end of an item's budget. With ``tol=None`` every stage
    runs a fixed share of ``max_iter`` (the last one the rest), and an engine that does not
    check without a tolerance never reads a value back to the host.
    """
    iterations = np.full(batch, engine.start_iterations, dtype=np.int64)
    stage_of = np.zeros(batch, dtype=np.int64)
    error = torch.full((batch,), float("nan"), dtype=dtype, device=device)
    alive = np.ones(batch, dtype=bool)  # items that go on to the next stage
    for stage, eps in enumerate(schedule):
        ids = np.flatnonzero(alive)
        if len(ids) == 0:
            break
        last = stage == len(schedule) - 1
        if last or tol is not None:
            budget = max_iter - iterations[ids]
        else:
            budget = np.full(len(ids), max(1, max_iter // len(schedule)))
        base = iterations[ids]  # an item retired at stage iteration t has run base + t in all
        target = None if tol is None else (tol if last else max(tol, stage_tol))
        checking = target is not None or engine.checks_without_tol
        stage_of[ids] = stage
        engine.start(stage, eps, ids)
        live = np.ones(len(ids), dtype=bool)
        dead = 0  # retired rows still in the working set
        next_end = int(budget.min())  # the first stage iteration at which a live item's budget ends
        stage_iter = 0
        while True:
            engine.half()
            regular = stage_iter % check_every == 0
            if regular or stage_iter >= next_end:  # (the rest of the loop is the hot path)
                ending = live & (budget <= stage_iter)
                stopping = ending.copy()
                row_error = None
                if checking and engine.ready() and (regular or ending.any()):
                    checked = live if regular else ending
                    row_error = engine.measure()
                    host = row_error.detach().cpu().numpy().astype(np.float64)
                    converged = checked & (host <= target) if target is not None else np.zeros_like(checked)
                    engine.on_check(checked, host, stage_iter, converged, ending)
                    stopping |= converged
                if stopping.any():
                    rows = np.flatnonzero(stopping)
                    iterations[ids[rows]] = base[rows] + stage_iter
                    final = last | (iterations[ids[rows]] >= max_iter)
                    engine.retire(rows, final, row_error)
                    if row_error is not None:
                        picked = row_error.detach().index_select(0, _index(rows, device))
                        error = error.index_copy(0, _index(ids[rows], device), picked)
                    alive[ids[rows[final]]] = False
                    live &= ~stopping
                    dead += len(rows)
                    if not live.any():
                        break
                    if dead >= COMPACT_SHARE * len(live):
                        engine.compact(live)
                        ids, budget, base, live = ids[live], budget[live], base[live], live[live]
                        dead = 0
                    next_end = int(budget[live].min())
            upcoming = (stage_iter + 1) % check_every == 0 or stage_iter + 1 >= next_end
            engine.step(stage_iter, checking and upcoming)
            stage_iter += 1
    f, g, plan = engine.finish()
    final_eps = np.asarray(schedule)[stage_of]
    eps_out: float | torch.Tensor = float(final_eps[0])
    if (final_eps != final_eps[0]).any():
        eps_out = torch.as_tensor(final_eps, dtype=dtype, device=device)
    return SinkhornState(f=f, g=g, plan=plan, iterations=iterations, eps=eps_out, error=error)


def _index(rows: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.as_tensor(rows, dtype=torch.long, device=device)


def take(x: torch.Tensor | None, rows: torch.Tensor | None) -> torch.Tensor | None:
    """Rows ``rows`` of ``x`` (``None`` keeps everything without copying)."""
    return x if x is None or rows is None else x.index_select(0, rows)


def working_rows(ids: np.ndarray, batch: int, device: torch.device) -> torch.Tensor | None:
    """Index tensor of ``ids``, or ``None`` when they are the whole batch in order."""
    return None if len(ids) == batch else _index(ids, device)


def row_index(mask: np.ndarray, device: torch.device) -> torch.Tensor:
    """Index tensor of the True rows of a numpy mask."""
    return _index(np.flatnonzero(mask), device)
