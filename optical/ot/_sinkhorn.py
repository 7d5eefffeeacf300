"""The public batched Sinkhorn solver."""

from __future__ import annotations

import math
import sys
import warnings
from dataclasses import replace

import torch

from ._implicit import ImplicitPlan
from ._log_domain import marginal_target, plan_from_potentials, solve_log
from ._problem import Problem, prepare
from ._result import TransportPlan
from ._stabilized import solve_stabilized

GRAD_MODES = ("envelope", "implicit", "unrolled")
METHODS = ("auto", "stabilized", "log")
DEFAULT_TOL = 1e-4


def epsilon_schedule(eps: float, eps_start: float | None, factor: float | None) -> list[float]:
    """Geometric annealing ``eps_start, eps_start * factor, ...`` ending exactly at ``eps``."""
    if factor is None or eps_start is None or eps_start <= eps:
        return [eps]
    if not math.isfinite(eps_start):
        raise ValueError(f"eps_start must be finite, got {eps_start} (is a real cost entry infinite?)")
    stages = [eps_start]
    while stages[-1] * factor > eps:
        stages.append(stages[-1] * factor)
    return stages + [eps]


def sinkhorn(
    cost: torch.Tensor,
    a: torch.Tensor | None = None,
    b: torch.Tensor | None = None,
    *,
    eps: float,
    mask_a: torch.Tensor | None = None,
    mask_b: torch.Tensor | None = None,
    tau: float | None = None,
    tol: float | None = DEFAULT_TOL,
    max_iter: int = 1000,
    grad: str = "envelope",
    method: str = "auto",
    eps_scaling: float | None = 0.5,
    eps_start: float | None = None,
    stage_tol: float = 1e-2,
    overrelaxation: float | str = 1.8,
    check_every: int | None = None,
    absorb_threshold: float = 30.0,
    init: tuple[torch.Tensor | None, torch.Tensor] | TransportPlan | None = None,
    check_inputs: bool = True,
    warn: bool = True,
) -> TransportPlan:
    r"""Entropic optimal transport for a batch of ragged token sets.

    For each item solves

    .. math::
        \min_{P \ge 0}\ \langle P, C\rangle_F + \varepsilon\,\mathrm{KL}(P \,\|\, a \otimes b)
        \quad\text{s.t.}\quad P\mathbf 1 = a,\ P^\top \mathbf 1 = b,

    or, with ``tau``, the unbalanced problem whose marginal constraints are replaced by
    :math:`\tau\,(\mathrm{KL}(P\mathbf 1\,\|\,a) + \mathrm{KL}(P^\top\mathbf 1\,\|\,b))`. The plan
    equals POT's ``ot.sinkhorn`` (balanced; its entropy term differs from this KL by a constant)
    and ``ot.unbalanced.sinkhorn_unbalanced`` with ``reg_type="kl"``.

    Parameters
    ----------
    cost : Tensor [B, n, m] or [n, m]
        Costs, finite and non-negative on real entries; padded entries are ignored. float16 and
        bfloat16 are solved (and returned) in float32. A 2-D cost is one problem, as in POT:
        weights are then 1-D, masks 1-D (or a 0-d length), and the result has no batch dimension.
    a, b : Tensor [B, n], [B, m], optional
        Weights, uniform over real tokens by default. Zero entries mark padding exactly as a
        mask does. When balanced each must sum to one per item.
    eps : float
        Entropic regularisation, in cost units (> 0).
    mask_a, mask_b : Tensor, optional
        Padding: bool [B, n] / [B, m] (True on real tokens) or integer lengths [B].
    tau : float, optional
        Strength of the KL marginal relaxation (unbalanced transport); ``None``: balanced.
    tol : float or None
        Each item stops once its marginal L1 error (both sides) is at most ``tol`` at a check;
        converged items leave the batched work, and an item's result is the one it gets solved
        alone (same options and ``eps_start``). ``None`` runs exactly ``max_iter`` iterations (at
        least one: the first half-step defines the plan), without annealing when ``max_iter`` is
        under two per stage.
    max_iter : int
        Iteration budget per item over all epsilon stages.
    grad : {"envelope", "implicit", "unrolled"}
        What ``.cost`` differentiates to (with respect to ``cost``):

        - ``envelope``: the plan is held constant, so :math:`\partial\,\text{cost}/\partial C = P`,
          the exact gradient of the entropic OT value (envelope theorem). Cheapest: no graph
          through the iterations; ``.plan`` is detached.
        - ``implicit``: the exact gradient of :math:`\langle P^\star(C), C\rangle` at convergence,
          by implicit differentiation of the fixed point (one [B, k, k] solve, k = min(n, m));
          memory is independent of the iteration count. ``.plan`` carries this gradient too.
        - ``unrolled``: autodiff through every log-domain iteration. Memory grows with the number
          of iterations; the only mode that also differentiates the weights ``a`` and ``b``.
    method : {"auto", "stabilized", "log"}
        Forward solver. ``stabilized``: scaling-domain iterations with absorption (two batched
        matrix-vector products per iteration, no ``exp``; the fast default). ``log``: log-domain
        iterations (one ``exp`` per entry and half-step; with ``tol=None`` and
        ``check_inputs=False`` it never synchronises with the device). ``auto`` picks ``log`` for
        ``unrolled`` and for fixed-iteration solves on CUDA, ``stabilized`` otherwise.
    eps_scaling : float in (0, 1) or None
        Anneal epsilon geometrically from ``eps_start`` (default: the largest real cost) by this
        factor (default 0.5); each intermediate stage stops at marginal error
        ``max(tol, stage_tol)``. ``None`` solves at ``eps`` from the start.
    overrelaxation : "auto" or float in (0, 2)
        :math:`\omega` of over-relaxed Sinkhorn (Thibault et al. 2021): same fixed point, far fewer
        iterations at small epsilon (default 1.8; 1 is the plain algorithm). Each epsilon stage
        runs its first 40 iterations plain, then over-relaxes; ``stabilized`` also halves an
        item's :math:`\omega - 1` whenever its error stalls for 300 iterations, and ``"auto"``
        there picks per item the optimal SOR factor for the plain rate it observed, within
        [1.5, 1.8] (``"auto"`` means 1 with ``method="log"``).
    check_every : int, optional
        Iterations between convergence and stability checks (default 5 on CPU, 10 on CUDA).
    absorb_threshold : float
        ``stabilized`` only: absorb the scalings into the potentials once a log-scaling exceeds it.
    init : (f, g) or TransportPlan, optional
        Warm start. The first half-step recomputes ``f`` from ``g``, so ``g`` is what counts.
        Annealing is skipped then (unless ``eps_start`` is given): it would discard the start.
    check_inputs : bool
        Validate values (NaN, signs, sums, empty items). ``False`` skips every check that reads
        data back to the host.
    warn : bool
        Warn (:class:`ConvergenceWarning`, once per call site) when items end above ``tol``:
        how many, the worst marginal error, and which option to raise. ``False`` silences it.

    Returns
    -------
    TransportPlan
        ``plan``, ``cost``, potentials ``f`` and ``g``, ``value``, ``iterations``,
        ``marginal_error`` and ``converged``.

    Raises
    ------
    ValueError
        On a shape or device mismatch, NaN, infinite or negative real costs, negative weights,
        weights that do not sum to one (balanced), ``eps <= 0``, or an item with no real token
        on a side; the message names the argument and the item.

    Examples
    --------
    >>> import torch
    >>> from optical.ot import sinkhorn, cosine_cost
    >>> x, y = torch.randn(2, 5, 8), torch.randn(2, 7, 8)
    >>> result = sinkhorn(cosine_cost(x, y), eps=0.05, mask_b=torch.tensor([7, 4]))
    >>> result.plan.shape, bool(result.converged.all())
    (torch.Size([2, 5, 7]), True)
    >>> float(result.plan[1, :, 4:].abs().sum())
    0.0
    """
    _check_options(eps, tau, tol, max_iter, grad, method, eps_scaling, eps_start, overrelaxation, check_every)
    single = isinstance(cost, torch.Tensor) and cost.dim() == 2
    if single:
        cost, a, b, mask_a, mask_b, init = _batch_of_one(cost, a, b, mask_a, mask_b, init)
    problem = prepare(cost, a, b, mask_a, mask_b, balanced=tau is None, check=check_inputs)
    weights_need_grad = problem.a.requires_grad or problem.b.requires_grad
    if weights_need_grad and grad != "unrolled" and torch.is_grad_enabled():
        raise ValueError(
            f"a or b requires grad, but grad={grad!r} differentiates with respect to the cost only; "
            "use grad='unrolled' for gradients in the weights"
        )
    device_is_cuda = problem.cost.device.type == "cuda"
    if method == "auto":
        method = "log" if grad == "unrolled" or (tol is None and device_is_cuda) else "stabilized"
    if grad == "unrolled" and method != "log":
        raise ValueError("grad='unrolled' differentiates through log-domain iterations: use method='log' or 'auto'")
    if check_every is None:
        # A check costs a host synchronisation on CUDA and a few vector passes on the CPU.
        check_every = 10 if device_is_cuda else 5
    init_g = init.g if isinstance(init, TransportPlan) else (None if init is None else init[1])
    if init_g is not None and eps_start is None:
        eps_scaling = None  # a warm start is already near the solution: annealing would discard it
    if eps_scaling is not None and eps_start is None:
        eps_start = float(problem.cost.detach().amax())
    schedule = epsilon_schedule(float(eps), eps_start, eps_scaling)
    if tol is None:
        # A fixed budget too small for every stage solves at eps directly.
        schedule = schedule if max_iter >= 2 * len(schedule) else [float(eps)]
    if init_g is not None and tuple(init_g.shape) != tuple(problem.b.shape):
        raise ValueError(f"init: g has shape {tuple(init_g.shape)}, expected {tuple(problem.b.shape)}")
    options = dict(tau=tau, tol=tol, stage_tol=stage_tol, max_iter=max_iter, check_every=check_every, init_g=init_g)
    # The log-domain solver has no rollback to guard an adaptive factor: "auto" is plain there.
    log_omega = 1.0 if overrelaxation == "auto" else float(overrelaxation)

    differentiable = torch.is_grad_enabled() and (problem.cost.requires_grad or weights_need_grad)
    if grad == "unrolled" and differentiable:
        state = solve_log(problem, schedule, inplace=False, omega=log_omega, **options)
        plan = plan_from_potentials(problem, state.f, state.g, state.eps)
    else:
        with torch.no_grad():
            if method == "log":
                state = solve_log(problem, schedule, inplace=True, omega=log_omega, **options)
                plan = plan_from_potentials(problem, state.f, state.g, state.eps)
            else:
                state = solve_stabilized(
                    problem, schedule, absorb_threshold=absorb_threshold, omega=overrelaxation, **options
                )
                plan = state.plan
        if grad == "implicit" and differentiable:
            plan = ImplicitPlan.apply(problem.cost, plan, state.eps, tau, problem.mask_a, problem.mask_b)
    f, g = state.f, state.g
    transport_cost = (plan * problem.cost).sum((1, 2))
    with torch.no_grad():
        measured, value = _diagnostics(problem, plan.detach(), f.detach(), g.detach(), state.eps, tau)
    # An item's last check saw exactly its returned state; its numbers are the ones it stopped on
    # (they differ from a re-measurement on the plan only by rounding).
    marginal_error = torch.where(torch.isnan(state.error), measured, state.error)
    converged = marginal_error <= (DEFAULT_TOL if tol is None else tol)
    if warn and tol is not None:
        _warn_unconverged(converged, marginal_error, tol, max_iter)
    final_eps = state.eps if isinstance(state.eps, float) else float(state.eps.max())
    result = TransportPlan(
        plan=plan,
        cost=transport_cost,
        f=f,
        g=g,
        value=value,
        iterations=int(state.iterations.max()),
        marginal_error=marginal_error,
        converged=converged,
        eps=final_eps,
        item_iterations=torch.as_tensor(state.iterations),
    )
    return _unbatch(result) if single else result


class ConvergenceWarning(UserWarning):
    """Some items of a :func:`sinkhorn` solve stopped at ``max_iter`` above ``tol``.

    Filter it like any warning (``warnings.simplefilter("ignore", ConvergenceWarning)``) or pass
    ``warn=False``.
    """


# Call sites (file, line) already warned: a training loop solving at every step warns once.
_WARNED_AT: set[tuple[str, int]] = set()


def _warn_unconverged(converged: torch.Tensor, error: torch.Tensor, tol: float, max_iter: int) -> None:
    if bool(converged.all()):
        return
    caller = sys._getframe(2)
    site = (caller.f_code.co_filename, caller.f_lineno)
    if site in _WARNED_AT:
        return
    _WARNED_AT.add(site)
    missed = int((~converged).sum())
    worst = float(error.max())
    warnings.warn(
        f"sinkhorn: {missed} of {converged.numel()} items did not converge within max_iter={max_iter} "
        f"(worst marginal L1 error {worst:.2e} > tol={tol:g}); raise max_iter, loosen tol or eps, "
        "or pass warn=False (warned once per call site)",
        ConvergenceWarning,
        stacklevel=3,
    )


def _batch_of_one(cost, a, b, mask_a, mask_b, init):
    """POT's single problem: cost [n, m], weights [n] and [m], as a batch of one."""

    def one(x):
        return None if x is None else x.unsqueeze(0)

    if isinstance(init, TransportPlan):
        init = (None, init.g)
    if init is not None:
        init = (one(init[0]), one(init[1]))
    masks = [None if m is None else (m.reshape(1) if m.dim() == 0 else m.unsqueeze(0)) for m in (mask_a, mask_b)]
    for name, w in (("a", a), ("b", b)):
        if w is not None and (not isinstance(w, torch.Tensor) or w.dim() != 1):
            shape = tuple(w.shape) if isinstance(w, torch.Tensor) else type(w).__name__
            raise ValueError(f"{name} must be 1-D for a 2-D cost, got {shape}")
    return cost.unsqueeze(0), one(a), one(b), masks[0], masks[1], init


def _unbatch(result: TransportPlan) -> TransportPlan:
    """Drop the batch dimension of a batch of one."""
    fields = ("plan", "cost", "f", "g", "value", "marginal_error", "converged", "item_iterations")
    return replace(result, **{name: getattr(result, name)[0] for name in fields})


def _check_options(eps, tau, tol, max_iter, grad, method, eps_scaling, eps_start, overrelaxation, check_every) -> None:
    def positive(name, value):
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value <= 0:
            raise ValueError(f"{name} must be a finite number > 0, got {value!r}")

    positive("eps", eps)
    if tau is not None:
        positive("tau", tau)
    if tol is not None:
        positive("tol", tol)
    if eps_start is not None:
        positive("eps_start", eps_start)
    if not isinstance(max_iter, int) or max_iter < 0:
        raise ValueError(f"max_iter must be an integer >= 0, got {max_iter!r}")
    if grad not in GRAD_MODES:
        raise ValueError(f"grad must be one of {GRAD_MODES}, got {grad!r}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if eps_scaling is not None and not 0 < eps_scaling < 1:
        raise ValueError(f"eps_scaling must lie in (0, 1), got {eps_scaling!r}")
    if overrelaxation != "auto" and (
        not isinstance(overrelaxation, (int, float)) or isinstance(overrelaxation, bool) or not 0 < overrelaxation < 2
    ):
        raise ValueError(f"overrelaxation must be 'auto' or a number in (0, 2), got {overrelaxation!r}")
    if check_every is not None and (not isinstance(check_every, int) or check_every < 1):
        raise ValueError(f"check_every must be an integer >= 1, got {check_every!r}")


def _diagnostics(
    problem: Problem, plan: torch.Tensor, f: torch.Tensor, g: torch.Tensor, eps: float | torch.Tensor,
    tau: float | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Marginal L1 error against the fixed-point marginals, and the entropic objective."""
    a, b = problem.a.detach(), problem.b.detach()
    rows, cols = plan.sum(2), plan.sum(1)
    error = (rows - marginal_target(a, f, problem.mask_a, tau)).abs().sum(1)
    error = error + (cols - marginal_target(b, g, problem.mask_b, tau)).abs().sum(1)
    zero = torch.zeros((), dtype=f.dtype, device=f.device)
    f0 = torch.where(problem.mask_a, f, zero)
    g0 = torch.where(problem.mask_b, g, zero)
    # eps * KL(P | a x b) = <f, P1> + <g, P^T 1> - <P, C> - eps (mass(P) - mass(a) mass(b)) at the
    # plan's own potentials, so the objective needs no log of the plan.
    value = (f0 * rows).sum(1) + (g0 * cols).sum(1) - eps * (rows.sum(1) - a.sum(1) * b.sum(1))
    if tau is not None:
        value = value + tau * (_kl(rows, a, problem.mask_a) + _kl(cols, b, problem.mask_b))
    return error, value


def _kl(p: torch.Tensor, q: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Generalised KL(p | q) per item over real entries."""
    safe_p = torch.where(mask & (p > 0), p, torch.ones_like(p))
    safe_q = torch.where(mask, q, torch.ones_like(q))
    return (torch.where(mask, p * torch.log(safe_p / safe_q) - p + q, torch.zeros_like(p))).sum(1)
