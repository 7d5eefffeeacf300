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

import torch

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
) -> tuple[torch.Tensor, torch.Tensor, int, float, torch.Tensor | None]:
    """Run log-domain iterations over the epsilon ``schedule``.

    Returns ``(f, g, iterations, eps, marginal_error)``: ``eps`` is the stage the solve ended in
    and ``marginal_error`` that of the returned potentials as the last check measured it
    (``None`` when no check ran).

    The last stage runs until the marginal error is at most ``tol`` or ``max_iter`` iterations
    are spent in all; earlier stages stop at ``max(tol, stage_tol)``. With ``tol=None`` every
    stage runs a fixed share of ``max_iter`` and no value is ever read back to the host.
    """
    cost, a, b, log_a, log_b = problem.cost, problem.a, problem.b, problem.log_a, problem.log_b
    mask_a, mask_b = problem.mask_a, problem.mask_b
    buf = torch.empty_like(cost) if inplace else None
    g = torch.zeros_like(b) if init_g is None else init_g.to(b.dtype)
    g = torch.where(mask_b, g, torch.full_like(g, float("-inf")))
    f: torch.Tensor | None = None
    col_error = torch.zeros_like(a[:, 0])
    error: torch.Tensor | None = None
    iterations = 0
    eps = schedule[0]
    for stage, eps in enumerate(schedule):
        rho = rho_of(eps, tau)
        last = stage == len(schedule) - 1
        budget = max_iter - iterations if (last or tol is not None) else max(1, max_iter // len(schedule))
        target = None if tol is None else (tol if last else max(tol, stage_tol))
        stage_iter = 0
        while True:
            f_tilde = -eps * soft_min(log_b + g / eps, cost, eps, dim=2, buf=buf)
            if target is not None and f is not None and (stage_iter % check_every == 0 or stage_iter >= budget):
                rows = a * torch.exp((f - f_tilde) / eps)
                error = (rows - marginal_target(a, f, mask_a, tau)).abs().sum(1).detach() + col_error
                if float(error.max()) <= target:
                    break
            if stage_iter >= budget:
                break
            relax = omega if stage_iter >= PLAIN_START else 1.0
            f = _relax(f, rho * f_tilde, relax, mask_a)
            g_tilde = -eps * soft_min(log_a + f / eps, cost, eps, dim=1, buf=buf)
            g_new = _relax(g, rho * g_tilde, relax, mask_b)
            if tol is not None and relax != 1.0:
                cols = b * torch.exp((g_new - g_tilde) / eps)
                col_error = (cols - marginal_target(b, g_new, mask_b, tau)).abs().sum(1).detach()
            g = g_new
            error = None  # the state moved on since the last check
            iterations += 1
            stage_iter += 1
        if iterations >= max_iter:
            break
    if f is None:  # max_iter == 0: one half-step so that the plan is defined
        f = _relax(None, rho_of(eps, tau) * f_tilde, omega, mask_a)
    return f, g, iterations, eps, error


def plan_from_potentials(problem: Problem, f: torch.Tensor, g: torch.Tensor, eps: float) -> torch.Tensor:
    r""":math:`P_{ij} = \exp(\log a_i + \log b_j + (f_i + g_j - C_{ij})/\varepsilon)`, zero on padding."""
    exponent = (f.unsqueeze(2) + g.unsqueeze(1) - problem.cost) / eps
    exponent = exponent + problem.log_a.unsqueeze(2) + problem.log_b.unsqueeze(1)
    return torch.exp(exponent)
