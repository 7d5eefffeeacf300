r"""Sinkhorn in the scaling domain with absorption (Schmitzer 2019), the fast forward solver.

The plan is kept as :math:`P = \mathrm{diag}(a \odot u)\, K\, \mathrm{diag}(b \odot v)` with the
stabilised kernel :math:`K_{ij} = \exp((f_i + g_j - C_{ij})/\varepsilon)`. An iteration is then two
batched matrix-vector products and a few operations on vectors:

.. math::
    u \leftarrow (K (b \odot v))^{-\rho}, \qquad v \leftarrow (K^\top (a \odot u))^{-\rho},

(times :math:`e^{(\rho - 1) f/\varepsilon}` and :math:`e^{(\rho - 1) g/\varepsilon}` when unbalanced),
which reads each kernel entry once per half-step (8 bytes per entry and iteration in float32,
the memory-traffic floor of any two-pass Sinkhorn) and evaluates no ``exp`` at all. Before the
scalings leave a safe range they are absorbed into the potentials
(:math:`f \mathrel{+}= \varepsilon \log u`, :math:`u \leftarrow 1`) and :math:`K` is rebuilt; if a
scaling still over- or underflows between two checks, the solver returns to the last checked
state and re-stabilises it with an exact log-domain sweep. Nothing here is differentiable: the
gradient modes in :mod:`optical.ot._sinkhorn` work from the converged plan.

References
----------
B. Schmitzer, "Stabilized sparse scaling algorithms for entropy regularized transport
problems", SIAM J. Sci. Comput. 41(3), 2019.
"""

from __future__ import annotations

import math

import torch

from ._log_domain import PLAIN_START, marginal_target, rho_of, soft_min
from ._problem import Problem


class _Kernel:
    """The stabilised kernel and its matrix-vector products.

    On the CPU a contiguous transposed copy is kept as well: a row vector times a matrix is the
    fast layout for batched GEMV there (about twice the bandwidth of matrix times column).
    """

    def __init__(self, cost: torch.Tensor) -> None:
        self.cost = cost
        self.k = torch.empty_like(cost)
        batch, n, m = cost.shape
        self.k_t = torch.empty(batch, m, n, dtype=cost.dtype, device=cost.device) if cost.device.type == "cpu" else None

    def rebuild(self, f: torch.Tensor, g: torch.Tensor, eps: float) -> None:
        # f and g are -inf on padding, so padded entries come out exactly 0.
        torch.add(f.unsqueeze(2), g.unsqueeze(1), out=self.k)
        self.k.sub_(self.cost).mul_(1.0 / eps).exp_()
        if self.k_t is not None:
            self.k_t.copy_(self.k.transpose(1, 2))

    def rows(self, w: torch.Tensor) -> torch.Tensor:
        """:math:`K w` for w [B, m]."""
        if self.k_t is not None:
            return torch.bmm(w.unsqueeze(1), self.k_t).squeeze(1)
        return torch.bmm(self.k, w.unsqueeze(2)).squeeze(2)

    def cols(self, w: torch.Tensor) -> torch.Tensor:
        """:math:`K^\\top w` for w [B, n]."""
        return torch.bmm(w.unsqueeze(1), self.k).squeeze(1)


# Bounds of omega="auto". Early iterations make the estimated rate optimistic, so the estimate
# errs low: the floor keeps slow problems from losing the acceleration, the cap keeps it stable.
OMEGA_MIN, OMEGA_MAX = 1.5, 1.8
# Plain iterations at which omega="auto" reads the error; the first few iterations converge
# faster than the asymptotic rate, so the estimate starts after them.
_RATE_PROBES = (PLAIN_START // 2, PLAIN_START)
_STALL = 300


def _sor_factor(history: list[tuple[int, float]]) -> float:
    """Optimal SOR factor for the linear rate observed between two plain checks."""
    (start, first), (end, last) = history[0], history[-1]
    if not 0 < last < first:
        return OMEGA_MIN
    theta = (last / first) ** (1.0 / (end - start))
    return min(OMEGA_MAX, max(OMEGA_MIN, 2.0 / (1.0 + math.sqrt(1.0 - theta))))


def _masked(x: torch.Tensor, mask: torch.Tensor, fill: float) -> torch.Tensor:
    return x.masked_fill(~mask, fill)


def solve_stabilized(
    problem: Problem,
    schedule: list[float],
    *,
    tau: float | None,
    tol: float | None,
    stage_tol: float,
    max_iter: int,
    check_every: int,
    omega: float | str,
    absorb_threshold: float,
    init_g: torch.Tensor | None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int, float, torch.Tensor]:
    r"""Solve without autograd; return ``(plan, f, g, iterations, eps, marginal_error)``.

    Potentials are -inf on padding. ``eps`` is the stage the solve ended in (the last of the
    schedule unless ``max_iter`` ran out) and ``marginal_error`` that of the returned plan as
    the last check measured it. Stopping and stages as in
    :func:`optical.ot._log_domain.solve_log`; the state is also checked for stability every
    ``check_every`` iterations (a host synchronisation on CUDA).

    Every stage runs its first ``PLAIN_START`` iterations plain and only then over-relaxes with
    ``omega``; ``omega="auto"`` estimates the plain linear rate :math:`\theta` on them and takes
    :math:`\omega = 2 / (1 + \sqrt{1 - \theta})`, the optimal SOR factor for that rate, clipped
    to [``OMEGA_MIN``, ``OMEGA_MAX``]. Whatever ``omega``, when the error has not improved on its
    best for ``_STALL`` iterations, :math:`\omega - 1` is halved.
    """
    cost = problem.cost.detach()
    a, b = problem.a.detach(), problem.b.detach()
    log_a, log_b = problem.log_a.detach(), problem.log_b.detach()
    mask_a, mask_b = problem.mask_a, problem.mask_b
    pad_a, pad_b = ~mask_a, ~mask_b
    kernel = _Kernel(cost)

    def log_sweep(g: torch.Tensor, eps: float, rho: float) -> tuple[torch.Tensor, torch.Tensor]:
        # Exact c-transforms, using the kernel buffer as workspace: after them every real row and
        # column of the rebuilt kernel has entries of order one, so nothing underflows.
        f = _masked(-rho * eps * soft_min(log_b + g / eps, cost, eps, dim=2, buf=kernel.k), mask_a, float("-inf"))
        g = _masked(-rho * eps * soft_min(log_a + f / eps, cost, eps, dim=1, buf=kernel.k), mask_b, float("-inf"))
        return f, g

    def shift(potential: torch.Tensor, mask: torch.Tensor, eps: float, rho: float) -> torch.Tensor | None:
        # Unbalanced updates damp the absorbed potential too: log u = -rho log(K b v) + (rho - 1) f / eps.
        return None if rho == 1.0 else _masked((rho - 1.0) / eps * potential, mask, 0.0)

    def scaling(product: torch.Tensor, pad: torch.Tensor, rho: float, shifted: torch.Tensor | None,
                old: torch.Tensor, relax: float) -> torch.Tensor:
        # New scaling from K(b v) or K^T(a u); padding gets 1 (its weight is zero anyway).
        product = product.masked_fill_(pad, 1.0)
        if rho == 1.0 and relax == 1.0:
            return product.reciprocal_()
        log_new = product.log_().mul_(-rho)
        if shifted is not None:
            log_new = log_new.add_(shifted)
        if relax != 1.0:
            log_new = log_new.mul_(relax).add_(old.log(), alpha=1.0 - relax)
        return log_new.exp_()

    g = torch.zeros_like(b) if init_g is None else init_g.detach().to(b.dtype).clone()
    g = _masked(g, mask_b, float("-inf"))
    f, g = log_sweep(g, schedule[0], rho_of(schedule[0], tau))
    iterations = 1
    # State: absorbed potentials (f, g), which define the kernel, and scalings (u, v) on top.
    u, v = torch.ones_like(a), torch.ones_like(b)
    error = torch.full_like(a[:, 0], float("inf"))
    eps = schedule[0]
    for stage, eps in enumerate(schedule):
        if stage > 0:  # carry the state over to the smaller epsilon through the potentials
            f, g = f + schedule[stage - 1] * u.log(), g + schedule[stage - 1] * v.log()
            u, v = torch.ones_like(a), torch.ones_like(b)
        rho = rho_of(eps, tau)
        last = stage == len(schedule) - 1
        budget = max_iter - iterations if (last or tol is not None) else max(1, max_iter // len(schedule))
        target = None if tol is None else (tol if last else max(tol, stage_tol))
        kernel.rebuild(f, g, eps)
        shift_f, shift_g = shift(f, mask_a, eps, rho), shift(g, mask_b, eps, rho)
        relax = 1.0  # over-relaxation far from the fixed point overshoots: start plain
        col_error = torch.zeros_like(a[:, 0])
        checked = (u, v, col_error, error, float("inf"))
        history: list[tuple[int, float]] = []  # (iteration, error) of plain checks, for omega="auto"
        best, best_iter = float("inf"), 0
        stage_iter = 0
        while True:
            kbv = kernel.rows(b * v)
            if stage_iter % check_every == 0 or stage_iter >= budget:
                error = (a * u * kbv - marginal_target(a, f + eps * u.log(), mask_a, tau)).abs().sum(1) + col_error
                worst = float(error.max())
                if not math.isfinite(worst):
                    if stage_iter >= budget:  # no budget left to repair it: return it as it is
                        break
                    # A scaling over- or underflowed since the last check: restart from there.
                    f, g = log_sweep(g + eps * checked[1].log(), eps, rho)
                    kernel.rebuild(f, g, eps)
                    shift_f, shift_g = shift(f, mask_a, eps, rho), shift(g, mask_b, eps, rho)
                    u, v = torch.ones_like(a), torch.ones_like(b)
                    col_error = torch.zeros_like(col_error)
                    checked = (u, v, col_error, error, float("inf"))
                    iterations += 1
                    stage_iter += 1
                    continue
                if worst < best:
                    best, best_iter = worst, stage_iter
                elif relax > 1.0 and stage_iter - best_iter > _STALL:
                    # Over-relaxed errors oscillate; only a long stall means the factor is too large.
                    relax = 1.0 + (relax - 1.0) / 2
                    best_iter = stage_iter
                if target is not None and worst <= target:
                    break
                if stage_iter in _RATE_PROBES:
                    history.append((stage_iter, worst))
                    if stage_iter == _RATE_PROBES[-1]:
                        relax = _sor_factor(history) if omega == "auto" else float(omega)
                log_u, log_v = u.log(), v.log()
                if float(torch.maximum(log_u.abs().amax(), log_v.abs().amax())) > absorb_threshold:
                    f, g = f + eps * log_u, g + eps * log_v
                    kernel.rebuild(f, g, eps)
                    shift_f, shift_g = shift(f, mask_a, eps, rho), shift(g, mask_b, eps, rho)
                    u, v = torch.ones_like(a), torch.ones_like(b)
                    kbv = kernel.rows(b)
                checked = (u, v, col_error, error, worst)
            if stage_iter >= budget:
                break
            u = scaling(kbv, pad_a, rho, shift_f, u, relax)
            kau = kernel.cols(a * u)
            v = scaling(kau.clone() if relax != 1.0 else kau, pad_b, rho, shift_g, v, relax)
            next_checked = (stage_iter + 1) % check_every == 0 or stage_iter + 1 >= budget
            if relax != 1.0 and next_checked:
                # Only over-relaxed steps leave the column marginals off their target.
                col_error = (b * v * kau - marginal_target(b, g + eps * v.log(), mask_b, tau)).abs().sum(1)
            elif relax == 1.0:
                col_error = torch.zeros_like(col_error)
            iterations += 1
            stage_iter += 1
        if iterations >= max_iter:
            break
    plan = kernel.k.mul_((a * u).unsqueeze(2)).mul_((b * v).unsqueeze(1))
    return plan, f + eps * u.log(), g + eps * v.log(), iterations, eps, error
