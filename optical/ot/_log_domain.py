r"""Log-domain Sinkhorn iterations.

With the plan written :math:`P_{ij} = a_i b_j \exp((f_i + g_j - C_{ij})/\varepsilon)`, one
iteration is two soft c-transforms

.. math::
    \tilde f_i = -\varepsilon \log \sum_j b_j \exp((g_j - C_{ij})/\varepsilon),\qquad
    f \leftarrow (1-\omega) f + \omega \rho \tilde f,

and the same for :math:`g` given the new :math:`f`, where :math:`\rho = \tau / (\tau + \varepsilon)`
for KL-relaxed marginals of strength :math:`\tau` (:math:`\rho = 1` when balanced) and
:math:`\omega` is the over-relaxation (1: plain Sinkhorn). Every quantity stays in the log domain,
so no value over- or underflows whatever :math:`\varepsilon`; the price is one ``exp`` per cost
entry and half-step. This module serves the ``unrolled`` mode (autograd through every iteration)
and the solves that must never synchronise with the device (fixed iteration count).
"""

from __future__ import annotations

import numpy as np
import torch

from ._driver import SinkhornState, drive, row_index, take, working_rows
from ._problem import Problem


def soft_min(
    h: torch.Tensor, cost: torch.Tensor, eps: float, dim: int, buf: torch.Tensor | None = None
) -> torch.Tensor:
    r"""Return :math:`\log \sum_k \exp(h_k - C/\varepsilon)` reduced over ``dim`` of ``cost``.

    ``h`` is broadcast along the other axis (``dim=2``: ``h`` is [B, m]; ``dim=1``: [B, n]).
    With ``buf`` (a [B, n, m] workspace) the reduction runs in place, allocating nothing of the
    cost's size; without it, it is an ordinary differentiable expression.
    """
    hb = h.unsqueeze(1) if dim == 2 else h.unsqueeze(2)
    if buf is None:
        return torch.logsumexp(hb - cost / eps, dim=dim)
    torch.add(hb, cost, alpha=-1.0 / eps, out=buf)
    # Every item has a real token on each side, so no slice is all -inf and the max is finite.
    top = buf.amax(dim=dim, keepdim=True)
    buf.sub_(top).exp_()
    return buf.sum(dim=dim).log_().add_(top.squeeze(dim))


# Over-relaxation far from the fixed point overshoots: every epsilon stage starts with this many
# plain iterations before any over-relaxation.
PLAIN_START = 40


def rho_of(eps: float, tau: float | None) -> float:
    """Damping of the c-transform for KL-relaxed marginals (1 when balanced)."""
    return 1.0 if tau is None else tau / (tau + eps)


def marginal_target(w: torch.Tensor, potential: torch.Tensor, mask: torch.Tensor, tau: float | None) -> torch.Tensor:
    r"""Marginal the fixed point demands: ``w`` when balanced, :math:`w\,e^{-f/\tau}` otherwise."""
    if tau is None:
        return w
    safe = torch.where(mask, potential, torch.zeros((), dtype=potential.dtype, device=potential.device))
    return torch.where(mask, w * torch.exp(-safe / tau), torch.zeros((), dtype=w.dtype, device=w.device))


def _relax(old: torch.Tensor | None, new: torch.Tensor, omega: float, mask: torch.Tensor) -> torch.Tensor:
    if old is not None and omega != 1.0:
        new = torch.where(mask, (1.0 - omega) * old + omega * new, new)
    return torch.where(mask, new, torch.full_like(new, float("-inf")))


class _LogDomain:
    """Log-domain iterations on a working set of items; differentiable unless ``inplace``."""

    start_iterations = 0
    checks_without_tol = False  # without a tolerance nothing is read back to the host

    def __init__(self, problem: Problem, *, tau, tol, omega, init_g, inplace) -> None:
        self.problem, self.tau, self.tol, self.omega, self.inplace = problem, tau, tol, omega, inplace
        self.batch = problem.cost.shape[0]
        self.device = problem.cost.device
        b = problem.b
        g = torch.zeros_like(b) if init_g is None else init_g.to(b.dtype)
        self.g_full = torch.where(problem.mask_b, g, torch.full_like(g, float("-inf")))
        self.f_full: torch.Tensor | None = None
        # Carried from stage to stage as the solver always did: a stage's plain start keeps it.
        self.col_full = torch.zeros_like(problem.a[:, 0])

    def start(self, stage: int, eps: float, ids: np.ndarray) -> None:
        self.eps, self.rho = eps, rho_of(eps, self.tau)
        self._load(ids)

    def _load(self, ids: np.ndarray) -> None:
        p, rows = self.problem, working_rows(ids, self.batch, self.device)
        self.ids = ids
        self.cost, self.a, self.b = take(p.cost, rows), take(p.a, rows), take(p.b, rows)
        self.log_a, self.log_b = take(p.log_a, rows), take(p.log_b, rows)
        self.mask_a, self.mask_b = take(p.mask_a, rows), take(p.mask_b, rows)
        self.f, self.g = take(self.f_full, rows), take(self.g_full, rows)
        self.col_error = take(self.col_full, rows)
        self.buf = torch.empty_like(self.cost) if self.inplace else None

    def compact(self, keep: np.ndarray) -> None:
        rows = row_index(keep, self.device)
        state = [take(x, rows) for x in (self.f, self.g, self.col_error, self.f_tilde)]
        self._load(self.ids[keep])
        self.f, self.g, self.col_error, self.f_tilde = state

    def half(self) -> None:
        self.f_tilde = -self.eps * soft_min(self.log_b + self.g / self.eps, self.cost, self.eps, dim=2, buf=self.buf)

    def ready(self) -> bool:
        return self.f is not None

    def measure(self) -> torch.Tensor:
        rows = self.a * torch.exp((self.f - self.f_tilde) / self.eps)
        return (rows - marginal_target(self.a, self.f, self.mask_a, self.tau)).abs().sum(1).detach() + self.col_error

    def on_check(self, checked, error, stage_iter, converged, ending) -> None:
        pass

    def step(self, stage_iter: int, next_checked: bool) -> None:
        eps, rho = self.eps, self.rho
        relax = self.omega if stage_iter >= PLAIN_START else 1.0
        self.f = _relax(self.f, rho * self.f_tilde, relax, self.mask_a)
        g_tilde = -eps * soft_min(self.log_a + self.f / eps, self.cost, eps, dim=1, buf=self.buf)
        g_new = _relax(self.g, rho * g_tilde, relax, self.mask_b)
        if self.tol is not None and relax != 1.0:
            cols = self.b * torch.exp((g_new - g_tilde) / eps)
            self.col_error = (cols - marginal_target(self.b, g_new, self.mask_b, self.tau)).abs().sum(1).detach()
        self.g = g_new

    def retire(self, rows: np.ndarray, final: np.ndarray, error) -> None:
        if self.f is None:  # no iteration yet (max_iter == 0): one half-step so that the plan is defined
            self.f = _relax(None, self.rho * self.f_tilde, self.omega, self.mask_a)
        # Out of place: the state may carry an autograd graph.
        if len(rows) == self.batch:  # the whole batch, in order: no copy
            self.f_full, self.g_full, self.col_full = self.f, self.g, self.col_error
            return
        index = torch.as_tensor(rows, dtype=torch.long, device=self.device)
        targets = torch.as_tensor(self.ids[rows], dtype=torch.long, device=self.device)
        if self.f_full is None:
            self.f_full = torch.full_like(self.problem.a, float("-inf"))
        self.f_full = self.f_full.index_copy(0, targets, self.f.index_select(0, index))
        self.g_full = self.g_full.index_copy(0, targets, self.g.index_select(0, index))
        self.col_full = self.col_full.index_copy(0, targets, self.col_error.index_select(0, index))

    def finish(self):
        return self.f_full, self.g_full, None


def solve_log(
    problem: Problem,
    schedule: list[float],
    *,
    tau: float | None,
    tol: float | None,
    stage_tol: float,
    max_iter: int,
    check_every: int,
    omega: float,
    init_g: torch.Tensor | None,
    inplace: bool,
) -> SinkhornState:
    """Run log-domain iterations over the epsilon ``schedule`` (stopping as in
    :func:`optical.ot._driver.drive`); the plan is left to :func:`plan_from_potentials`.

    With ``tol=None`` every stage runs a fixed share of ``max_iter`` and no value is ever read
    back to the host.
    """
    engine = _LogDomain(problem, tau=tau, tol=tol, omega=omega, init_g=init_g, inplace=inplace)
    return drive(engine, engine.batch, schedule, tol=tol, stage_tol=stage_tol, max_iter=max_iter,
                 check_every=check_every, device=engine.device, dtype=problem.cost.dtype)


def plan_from_potentials(
    problem: Problem, f: torch.Tensor, g: torch.Tensor, eps: float | torch.Tensor
) -> torch.Tensor:
    r""":math:`P_{ij} = \exp(\log a_i + \log b_j + (f_i + g_j - C_{ij})/\varepsilon)`, zero on padding.

    ``eps``: a float, or one per item [B].
    """
    eps = eps if isinstance(eps, float) else eps.view(-1, 1, 1)
    exponent = (f.unsqueeze(2) + g.unsqueeze(1) - problem.cost) / eps
    exponent = exponent + problem.log_a.unsqueeze(2) + problem.log_b.unsqueeze(1)
    return torch.exp(exponent)
