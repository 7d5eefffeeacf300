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

import numpy as np
import torch

from ._driver import SinkhornState, drive, row_index, take, working_rows
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

    def rebuild(self, f: torch.Tensor, g: torch.Tensor, eps: float, rows: torch.Tensor | None = None) -> None:
        """Rebuild from ``f``, ``g`` (all rows, or the ``rows`` of the working set they belong to)."""
        if rows is None:
            self._build(self.k, self.k_t, self.cost, f, g, eps)
            return
        k = torch.empty((len(rows),) + self.k.shape[1:], dtype=self.k.dtype, device=self.k.device)
        k_t = None if self.k_t is None else torch.empty_like(k.transpose(1, 2), memory_format=torch.contiguous_format)
        self._build(k, k_t, self.cost.index_select(0, rows), f, g, eps)
        self.k.index_copy_(0, rows, k)
        if self.k_t is not None:
            self.k_t.index_copy_(0, rows, k_t)

    @staticmethod
    def _build(k, k_t, cost, f, g, eps) -> None:
        # f and g are -inf on padding, so padded entries come out exactly 0.
        torch.add(f.unsqueeze(2), g.unsqueeze(1), out=k)
        k.sub_(cost).mul_(1.0 / eps).exp_()
        if k_t is not None:
            k_t.copy_(k.transpose(1, 2))

    def compact(self, rows: torch.Tensor) -> None:
        self.cost, self.k = self.cost.index_select(0, rows), self.k.index_select(0, rows)
        self.k_t = None if self.k_t is None else self.k_t.index_select(0, rows)

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
# Iterations without a new best error after which an over-relaxed item halves omega - 1.
STALL = 300


def sor_factor(first: np.ndarray, last: np.ndarray, span: int) -> np.ndarray:
    """Optimal SOR factor per item for the linear rate observed from ``first`` to ``last``
    error over ``span`` plain iterations (``OMEGA_MIN`` where no rate was seen)."""
    seen = np.isfinite(first) & (0 < last) & (last < first) & (span > 0)
    theta = np.where(seen, last / np.where(seen, first, 1.0), 0.0) ** (1.0 / max(span, 1))
    omega = np.clip(2.0 / (1.0 + np.sqrt(1.0 - theta)), OMEGA_MIN, OMEGA_MAX)
    return np.where(seen, omega, OMEGA_MIN)


def _masked(x: torch.Tensor, mask: torch.Tensor, fill: float) -> torch.Tensor:
    return x.masked_fill(~mask, fill)


class _Scaling:
    r"""Scaling-domain iterations with absorption on a working set of items.

    State per item: absorbed potentials ``(f, g)``, which define the kernel, and scalings
    ``(u, v)`` on top; the plan is :math:`\mathrm{diag}(a u) K \mathrm{diag}(b v)`.
    """

    start_iterations = 1  # the exact log-domain sweep that starts the solve
    checks_without_tol = True  # stability and absorption are checked whatever the tolerance

    def __init__(self, problem: Problem, *, tau, omega, absorb_threshold, init_g, schedule) -> None:
        self.problem, self.tau, self.omega, self.absorb_threshold = problem, tau, omega, absorb_threshold
        self.cost_full = problem.cost.detach()
        self.batch = self.cost_full.shape[0]
        self.device = self.cost_full.device
        b = problem.b.detach()
        g = torch.zeros_like(b) if init_g is None else init_g.detach().to(b.dtype).clone()
        g = _masked(g, problem.mask_b, float("-inf"))
        self.kernel = _Kernel(self.cost_full)
        self._load(np.arange(self.batch), None)
        eps = schedule[0]
        self.f_full, self.g_full = self._log_sweep(g, eps, rho_of(eps, tau), self.kernel.k, self.cost_full,
                                                   self.log_a, self.log_b, self.mask_a, self.mask_b)
        self.plan: torch.Tensor | None = None

    # ------------------------------------------------------------------ working set
    def _load(self, ids: np.ndarray, rows: torch.Tensor | None) -> None:
        p = self.problem
        self.ids = ids
        self.a, self.b = take(p.a.detach(), rows), take(p.b.detach(), rows)
        self.log_a, self.log_b = take(p.log_a.detach(), rows), take(p.log_b.detach(), rows)
        self.mask_a, self.mask_b = take(p.mask_a, rows), take(p.mask_b, rows)
        self.pad_a, self.pad_b = ~self.mask_a, ~self.mask_b

    def start(self, stage: int, eps: float, ids: np.ndarray) -> None:
        rows = working_rows(ids, self.batch, self.device)
        if stage > 0:
            self._load(ids, rows)
            self.kernel = _Kernel(take(self.cost_full, rows))
        self.eps, self.rho = eps, rho_of(eps, self.tau)
        # Carried over from the previous stage through the potentials.
        self.f, self.g = take(self.f_full, rows), take(self.g_full, rows)
        self.u, self.v = torch.ones_like(self.a), torch.ones_like(self.b)
        self.kernel.rebuild(self.f, self.g, eps)
        self._shifts()
        width = len(ids)
        self.relax = np.ones(width)  # over-relaxation far from the fixed point overshoots: start plain
        self._relax_changed()
        self.col_error = torch.zeros_like(self.a[:, 0])
        self.checked_v = self.v
        self.probes = np.full((width, len(_RATE_PROBES)), np.nan)  # plain errors, for omega="auto"
        self.best, self.best_iter = np.full(width, np.inf), np.zeros(width, dtype=np.int64)
        self.rollback: np.ndarray | None = None

    def compact(self, keep: np.ndarray) -> None:
        rows = row_index(keep, self.device)
        ids = self.ids[keep]
        self._load(ids, working_rows(ids, self.batch, self.device))
        self.kernel.compact(rows)
        for name in ("f", "g", "u", "v", "col_error", "checked_v", "kbv", "shift_f", "shift_g"):
            setattr(self, name, take(getattr(self, name), rows))
        self.relax, self.probes = self.relax[keep], self.probes[keep]
        self.best, self.best_iter = self.best[keep], self.best_iter[keep]
        self._relax_changed()
        if self.rollback is not None:
            self.rollback = self.rollback[keep] if self.rollback[keep].any() else None

    # ------------------------------------------------------------------ iteration
    def _shifts(self) -> None:
        # Unbalanced updates damp the absorbed potential too: log u = -rho log(K b v) + (rho - 1) f / eps.
        if self.rho == 1.0:
            self.shift_f = self.shift_g = None
            return
        factor = (self.rho - 1.0) / self.eps
        self.shift_f = _masked(factor * self.f, self.mask_a, 0.0)
        self.shift_g = _masked(factor * self.g, self.mask_b, 0.0)

    def _scaling(self, product, pad, shifted, old) -> torch.Tensor:
        # New scaling from K(b v) or K^T(a u); padding gets 1 (its weight is zero anyway).
        product = product.masked_fill_(pad, 1.0)
        if self.rho == 1.0 and self.relax_t is None:
            return product.reciprocal_()
        log_new = product.log_().mul_(-self.rho)
        if shifted is not None:
            log_new = log_new.add_(shifted)
        if self.relax_t is not None:
            log_new = self._blend(log_new, old.log())
        return log_new.exp_()

    def _blend(self, new: torch.Tensor, old: torch.Tensor) -> torch.Tensor:
        """``omega * new + (1 - omega) * old`` per row, rounded as for an item solved alone.

        Alone, omega is one number and torch's scaled add fuses the second product into the sum
        (FMA). Rows with several factors get the same rounding: exactly in float64 arithmetic
        for float32 (both products are exact there), group by group otherwise.
        """
        factors = self.factors
        if len(factors) == 1:
            return new.mul_(float(factors[0])).add_(old, alpha=1.0 - float(factors[0]))
        if new.dtype == torch.float32:
            alpha = torch.as_tensor((1.0 - self.relax).astype(np.float32), device=self.device).double()
            return new.mul_(self.relax_t).double().add_(old.double() * alpha.unsqueeze(1)).float()
        for factor in factors:
            rows = row_index(self.relax == factor, self.device)
            blended = new.index_select(0, rows).mul_(float(factor)).add_(old.index_select(0, rows), alpha=1.0 - factor)
            new.index_copy_(0, rows, blended)
        return new

    def half(self) -> None:
        self.kbv = self.kernel.rows(self.b * self.v)

    def ready(self) -> bool:
        return True

    def measure(self) -> torch.Tensor:
        a, u, eps = self.a, self.u, self.eps
        target = marginal_target(a, self.f + eps * u.log(), self.mask_a, self.tau)
        return (a * u * self.kbv - target).abs().sum(1) + self.col_error

    def on_check(self, checked, error, stage_iter, converged, ending) -> None:
        finite = np.isfinite(error)
        # A scaling over- or underflowed since the last check: restart from there (unless the
        # budget is spent: then the item is returned as it is).
        rollback = checked & ~finite & ~ending
        self.rollback = rollback if rollback.any() else None
        going = checked & finite & ~converged
        if not going.any():
            return
        better = going & (error < self.best)
        self.best = np.where(better, error, self.best)
        self.best_iter = np.where(better, stage_iter, self.best_iter)
        # Over-relaxed errors oscillate; only a long stall means the factor is too large.
        stalled = going & ~better & (self.relax > 1.0) & (stage_iter - self.best_iter > STALL)
        if stalled.any():
            self.relax = np.where(stalled, 1.0 + (self.relax - 1.0) / 2, self.relax)
            self.best_iter = np.where(stalled, stage_iter, self.best_iter)
            self._relax_changed()
        if stage_iter in _RATE_PROBES:
            column = _RATE_PROBES.index(stage_iter)
            self.probes[going, column] = error[going]
            if stage_iter == _RATE_PROBES[-1]:
                if self.omega == "auto":  # no probe at the first point (not a check): no rate seen
                    span = _RATE_PROBES[-1] - _RATE_PROBES[0]
                    factor = sor_factor(self.probes[:, 0], self.probes[:, -1], span)
                else:
                    factor = np.full(len(self.relax), float(self.omega))
                self.relax = np.where(going, factor, self.relax)
                self._relax_changed()
        log_u, log_v = self.u.log(), self.v.log()
        size = torch.maximum(log_u.abs().amax(1), log_v.abs().amax(1)).cpu().numpy()
        absorb = going & (size > self.absorb_threshold)
        if absorb.any():
            rows = row_index(absorb, self.device)
            eps = self.eps
            f = self.f.index_select(0, rows) + eps * log_u.index_select(0, rows)
            g = self.g.index_select(0, rows) + eps * log_v.index_select(0, rows)
            self._reset_rows(rows, f, g)
            self.kbv = self.kernel.rows(self.b * self.v)
        if going.all():
            self.checked_v = self.v
        else:
            self.checked_v = torch.where(torch.as_tensor(going, device=self.device)[:, None], self.v, self.checked_v)

    def _reset_rows(self, rows: torch.Tensor, f: torch.Tensor, g: torch.Tensor) -> None:
        """New absorbed potentials for ``rows``: rebuild their kernel rows, scalings back to one."""
        self.f, self.g = self.f.index_copy(0, rows, f), self.g.index_copy(0, rows, g)
        self.kernel.rebuild(f, g, self.eps, rows)
        self._shifts()
        self.u = self.u.index_fill(0, rows, 1.0)
        self.v = self.v.index_fill(0, rows, 1.0)

    def _relax_changed(self) -> None:
        self.factors = np.unique(self.relax)
        if (self.relax == 1.0).all():
            self.relax_t = None
        else:
            self.relax_t = torch.as_tensor(self.relax, dtype=self.a.dtype, device=self.device).unsqueeze(1)

    def step(self, stage_iter: int, next_checked: bool) -> None:
        relaxed = self.relax_t is not None
        self.u = self._scaling(self.kbv, self.pad_a, self.shift_f, self.u)
        kau = self.kernel.cols(self.a * self.u)
        self.v = self._scaling(kau.clone() if relaxed else kau, self.pad_b, self.shift_g, self.v)
        if relaxed and next_checked:
            # Only over-relaxed steps leave the column marginals off their target.
            target = marginal_target(self.b, self.g + self.eps * self.v.log(), self.mask_b, self.tau)
            self.col_error = (self.b * self.v * kau - target).abs().sum(1)
        elif not relaxed:
            self.col_error = torch.zeros_like(self.col_error)
        if self.rollback is not None:
            self._roll_back(row_index(self.rollback, self.device))
            self.rollback = None

    def _roll_back(self, rows: torch.Tensor) -> None:
        # Exact c-transforms from the last checked state: after them every real row and column of
        # the rebuilt kernel has entries of order one, so nothing underflows.
        eps = self.eps
        g = self.g.index_select(0, rows) + eps * self.checked_v.index_select(0, rows).log()
        cost = self.kernel.cost.index_select(0, rows)
        f, g = self._log_sweep(g, eps, self.rho, torch.empty_like(cost), cost, self.log_a.index_select(0, rows),
                               self.log_b.index_select(0, rows), self.mask_a.index_select(0, rows),
                               self.mask_b.index_select(0, rows))
        self._reset_rows(rows, f, g)
        self.col_error = self.col_error.index_fill(0, rows, 0.0)
        self.checked_v = self.checked_v.index_fill(0, rows, 1.0)

    @staticmethod
    def _log_sweep(g, eps, rho, buf, cost, log_a, log_b, mask_a, mask_b) -> tuple[torch.Tensor, torch.Tensor]:
        f = _masked(-rho * eps * soft_min(log_b + g / eps, cost, eps, dim=2, buf=buf), mask_a, float("-inf"))
        g = _masked(-rho * eps * soft_min(log_a + f / eps, cost, eps, dim=1, buf=buf), mask_b, float("-inf"))
        return f, g

    # ------------------------------------------------------------------ results
    def retire(self, rows: np.ndarray, final: np.ndarray, error) -> None:
        index = torch.as_tensor(rows, dtype=torch.long, device=self.device)
        eps = self.eps
        u, v = self.u.index_select(0, index), self.v.index_select(0, index)
        targets = torch.as_tensor(self.ids[rows], dtype=torch.long, device=self.device)
        self.f_full = self.f_full.index_copy(0, targets, self.f.index_select(0, index) + eps * u.log())
        self.g_full = self.g_full.index_copy(0, targets, self.g.index_select(0, index) + eps * v.log())
        if not final.any():
            return
        a_u = self.a.index_select(0, index) * u
        b_v = self.b.index_select(0, index) * v
        if len(rows) == self.batch and final.all():  # everything at once: the kernel becomes the plan
            self.plan = self.kernel.k.mul_(a_u.unsqueeze(2)).mul_(b_v.unsqueeze(1))
            return
        keep = torch.as_tensor(np.flatnonzero(final), dtype=torch.long, device=self.device)
        block = self.kernel.k.index_select(0, index.index_select(0, keep))
        block = block.mul_(a_u.index_select(0, keep).unsqueeze(2)).mul_(b_v.index_select(0, keep).unsqueeze(1))
        if self.plan is None:
            self.plan = torch.empty_like(self.cost_full)
        self.plan.index_copy_(0, targets.index_select(0, keep), block)

    def finish(self):
        return self.f_full, self.g_full, self.plan


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
) -> SinkhornState:
    r"""Solve without autograd; the returned state carries the plan.

    Stopping and stages as in :func:`optical.ot._driver.drive`; each item's state is also
    checked for stability every ``check_every`` iterations (a host synchronisation on CUDA).

    Every stage runs its first ``PLAIN_START`` iterations plain and only then over-relaxes with
    ``omega``; ``omega="auto"`` estimates each item's plain linear rate :math:`\theta` on them
    and takes :math:`\omega = 2 / (1 + \sqrt{1 - \theta})`, the optimal SOR factor for that
    rate, clipped to [``OMEGA_MIN``, ``OMEGA_MAX``]. Whatever ``omega``, when an item's error
    has not improved on its best for ``STALL`` (300) iterations, its :math:`\omega - 1` is
    halved.
    """
    engine = _Scaling(problem, tau=tau, omega=omega, absorb_threshold=absorb_threshold, init_g=init_g,
                      schedule=schedule)
    return drive(engine, engine.batch, schedule, tol=tol, stage_tol=stage_tol, max_iter=max_iter,
                 check_every=check_every, device=engine.device, dtype=problem.cost.dtype)
