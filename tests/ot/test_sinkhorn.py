"""Forward solves of :func:`optical.ot.sinkhorn` against POT and independent computations."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import ot
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from optical.ot import DEFAULT_TOL, cosine_cost, sinkhorn
from optical.ot.synthetic import planted_alignment

EPSILONS = [0.5, 0.1, 0.05, 0.01]
METHODS = ["stabilized", "log"]
# Tight solves for comparisons with reference solvers.
TIGHT = dict(tol=1e-11, max_iter=5_000)


@dataclass
class Batch:
    """A padded ragged batch; ``cost`` holds garbage (not zeros) on padded pairs."""

    cost: torch.Tensor
    a: torch.Tensor
    b: torch.Tensor
    len_a: torch.Tensor
    len_b: torch.Tensor
    mask_a: torch.Tensor
    mask_b: torch.Tensor

    def masks(self, form: str) -> tuple[torch.Tensor, torch.Tensor]:
        return (self.len_a, self.len_b) if form == "lengths" else (self.mask_a, self.mask_b)

    def item(self, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Item ``k`` restricted to its real tokens, as float64 numpy arrays for POT."""
        n, m = int(self.len_a[k]), int(self.len_b[k])
        cost = self.cost[k, :n, :m].double().numpy()
        return cost, self.a[k, :n].double().numpy(), self.b[k, :m].double().numpy()

    def block(self, plan: torch.Tensor, k: int) -> np.ndarray:
        return plan[k, : int(self.len_a[k]), : int(self.len_b[k])].detach().double().numpy()


def ragged_batch(lengths_a, lengths_b, *, seed: int, n: int | None = None, m: int | None = None) -> Batch:
    """Random costs in [0, 1) and random positive weights (normalised per item) on real tokens."""
    gen = torch.Generator().manual_seed(seed)
    len_a, len_b = torch.tensor(lengths_a), torch.tensor(lengths_b)
    batch = len(lengths_a)
    n = int(len_a.max()) if n is None else n
    m = int(len_b.max()) if m is None else m
    mask_a = torch.arange(n)[None, :] < len_a[:, None]
    mask_b = torch.arange(m)[None, :] < len_b[:, None]
    cost = torch.rand(batch, n, m, generator=gen, dtype=torch.float64)
    garbage = 10.0 + 100.0 * torch.rand(batch, n, m, generator=gen, dtype=torch.float64)
    cost = torch.where(mask_a[:, :, None] & mask_b[:, None, :], cost, garbage)
    a = (torch.rand(batch, n, generator=gen, dtype=torch.float64) + 0.1) * mask_a
    b = (torch.rand(batch, m, generator=gen, dtype=torch.float64) + 0.1) * mask_b
    return Batch(cost, a / a.sum(1, keepdim=True), b / b.sum(1, keepdim=True), len_a, len_b, mask_a, mask_b)


def default_batch(seed: int = 0) -> Batch:
    # Item 1 is a 1 x m problem and item 3 an n x 1 one, among longer items.
    return ragged_batch([7, 1, 4, 6, 3], [9, 5, 2, 1, 8], seed=seed)


def pot_log(cost: np.ndarray, a: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    return ot.bregman.sinkhorn_log(a, b, cost, eps, numItermax=200_000, stopThr=1e-14)


def pot_scaling(cost: np.ndarray, a: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    return ot.sinkhorn(a, b, cost, eps, method="sinkhorn", numItermax=200_000, stopThr=1e-14)


def marginal_l1(plan: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    plan, a, b = plan.detach().double(), a.double(), b.double()
    return (plan.sum(2) - a).abs().sum(1) + (plan.sum(1) - b).abs().sum(1)


# --------------------------------------------------------------------------- POT, balanced


@pytest.mark.parametrize("mask_form", ["lengths", "bool"])
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("eps", EPSILONS)
def test_balanced_plan_matches_pot_per_item(eps, method, mask_form):
    data = default_batch()
    mask_a, mask_b = data.masks(mask_form)
    result = sinkhorn(data.cost, data.a, data.b, eps=eps, mask_a=mask_a, mask_b=mask_b, method=method, **TIGHT)
    assert bool(result.converged.all())
    for k in range(data.cost.shape[0]):
        cost, a, b = data.item(k)
        ours = data.block(result.plan, k)
        np.testing.assert_allclose(ours, pot_log(cost, a, b, eps), rtol=0, atol=1e-6)
        np.testing.assert_allclose(ours, pot_scaling(cost, a, b, eps), rtol=0, atol=1e-6)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("eps", [0.5, 0.1, 0.05])
def test_balanced_plan_matches_pot_batch_solver(eps, method):
    if not hasattr(ot, "batch"):
        pytest.skip("this POT has no ot.batch")
    data = ragged_batch([6, 6, 6], [8, 8, 8], seed=3)
    result = sinkhorn(data.cost, data.a, data.b, eps=eps, method=method, **TIGHT)
    reference = ot.batch.solve_batch(
        data.cost.numpy(), eps, data.a.numpy(), data.b.numpy(), method="log_sinkhorn", max_iter=100_000, tol=1e-13
    )
    np.testing.assert_allclose(result.plan.numpy(), np.asarray(reference.plan), rtol=0, atol=1e-6)


# --------------------------------------------------------------------------- POT, unbalanced


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("eps", [0.5, 0.05])
@pytest.mark.parametrize("tau", [0.1, 1.0, 10.0])
def test_unbalanced_plan_matches_pot_per_item(tau, eps, method):
    data = default_batch(seed=1)
    result = sinkhorn(
        data.cost, data.a, data.b, eps=eps, tau=tau, mask_a=data.len_a, mask_b=data.mask_b, method=method, **TIGHT
    )
    assert bool(result.converged.all())
    for k in range(data.cost.shape[0]):
        cost, a, b = data.item(k)
        reference = ot.unbalanced.sinkhorn_unbalanced(
            a, b, cost, eps, tau, reg_type="kl", method="sinkhorn", numItermax=200_000, stopThr=1e-15
        )
        np.testing.assert_allclose(data.block(result.plan, k), reference, rtol=0, atol=1e-6)


def test_unbalanced_mass_shrinks_towards_balanced_as_tau_grows():
    # A property of the model, not of the solver: the plan's mass is below min(mass(a), mass(b))
    # for finite tau and tends to the balanced plan when tau grows.
    data = default_batch(seed=2)
    balanced = sinkhorn(data.cost, data.a, data.b, eps=0.1, mask_a=data.len_a, mask_b=data.len_b, **TIGHT)
    gaps = []
    for tau in (0.1, 1.0, 100.0):
        result = sinkhorn(data.cost, data.a, data.b, eps=0.1, tau=tau, mask_a=data.len_a, mask_b=data.len_b, **TIGHT)
        assert bool((result.plan.sum((1, 2)) < 1.0).all())
        gaps.append(float((result.plan - balanced.plan).abs().max()))
    assert gaps[0] > gaps[1] > gaps[2]
    assert gaps[2] < 1e-2


# --------------------------------------------------------------------------- marginals, padding


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("eps", EPSILONS)
def test_marginals_hold_to_tolerance(eps, method):
    data = default_batch(seed=4)
    tol = 1e-9
    result = sinkhorn(
        data.cost,
        data.a,
        data.b,
        eps=eps,
        mask_a=data.mask_a,
        mask_b=data.len_b,
        method=method,
        tol=tol,
        max_iter=5_000,
    )
    assert bool(result.converged.all())
    assert bool((result.marginal_error <= tol).all())
    recomputed = marginal_l1(result.plan, data.a, data.b)
    assert bool((recomputed <= tol * 1.001 + 1e-14).all()), recomputed
    torch.testing.assert_close(result.marginal_error, recomputed, rtol=0, atol=1e-13)


@pytest.mark.parametrize("tau", [None, 1.0])
@pytest.mark.parametrize("method", METHODS)
def test_padding_is_exactly_zero_and_potentials_are_minus_inf(method, tau):
    data = default_batch(seed=5)
    result = sinkhorn(data.cost, data.a, data.b, eps=0.05, tau=tau, mask_a=data.len_a, mask_b=data.len_b, method=method)
    for k in range(data.cost.shape[0]):
        n, m = int(data.len_a[k]), int(data.len_b[k])
        assert torch.count_nonzero(result.plan[k, n:, :]) == 0
        assert torch.count_nonzero(result.plan[k, :, m:]) == 0
        assert bool((result.plan[k, :n, :m] > 0).all())
        assert bool(torch.isneginf(result.f[k, n:]).all()) and bool(torch.isfinite(result.f[k, :n]).all())
        assert bool(torch.isneginf(result.g[k, m:]).all()) and bool(torch.isfinite(result.g[k, :m]).all())


def test_plan_is_built_from_its_potentials():
    # P = a_i b_j exp((f_i + g_j - C_ij) / eps) on real pairs, as documented.
    data = default_batch(seed=6)
    eps = 0.1
    result = sinkhorn(data.cost, data.a, data.b, eps=eps, mask_a=data.len_a, mask_b=data.len_b, **TIGHT)
    for k in range(data.cost.shape[0]):
        n, m = int(data.len_a[k]), int(data.len_b[k])
        f, g = result.f[k, :n], result.g[k, :m]
        kernel = torch.exp((f[:, None] + g[None, :] - data.cost[k, :n, :m]) / eps)
        expected = data.a[k, :n, None] * data.b[k, None, :m] * kernel
        torch.testing.assert_close(result.plan[k, :n, :m], expected, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("eps", [0.1, 0.05, 0.01])
def test_float32_structured_costs_reach_tolerance(eps, method):
    batch = planted_alignment(4, 12, 16, 8, seed=3)
    cost = cosine_cost(batch.x, batch.y, batch.x_mask, batch.y_mask)
    assert cost.dtype == torch.float32
    result = sinkhorn(cost, eps=eps, mask_a=batch.x_mask, mask_b=batch.y_mask, method=method, tol=1e-4)
    assert result.plan.dtype == torch.float32
    assert bool(result.converged.all())
    assert bool((result.marginal_error <= 1e-4).all())
    a = batch.x_mask.double() / batch.x_mask.sum(1, keepdim=True)
    b = batch.y_mask.double() / batch.y_mask.sum(1, keepdim=True)
    # Summing the float32 plan adds rounding of order 1e-7 per entry.
    assert bool((marginal_l1(result.plan, a, b) <= 1e-4 + 1e-5).all())


def test_not_converged_when_budget_runs_out():
    data = default_batch(seed=7)
    result = sinkhorn(data.cost, data.a, data.b, eps=0.01, mask_a=data.len_a, mask_b=data.len_b, tol=1e-12, max_iter=5)
    assert result.iterations == 5
    recomputed = marginal_l1(result.plan, data.a, data.b)
    torch.testing.assert_close(result.converged, recomputed <= 1e-12)
    assert not bool(result.converged.all())


@pytest.mark.parametrize("method", METHODS)
def test_converged_flag_compares_the_error_with_tol(method):
    # The stopping tolerance does not change the iterates, so with the budget fixed the final
    # error is the same whatever tol: converged must flip exactly where tol crosses it.
    data = default_batch(seed=7)
    options = dict(eps=0.05, mask_a=data.len_a, mask_b=data.len_b, method=method, eps_scaling=None, check_every=1)
    probe = sinkhorn(data.cost, data.a, data.b, tol=1e-300, max_iter=30, **options)
    error = marginal_l1(probe.plan, data.a, data.b)
    # Single-token items are exact after one iteration; the others are not yet converged.
    unsolved = error > 1e-8
    assert 0 < int(unsolved.sum()) < len(error)
    tol = float(error[unsolved].min()) / 2
    result = sinkhorn(data.cost, data.a, data.b, tol=tol, max_iter=30, **options)
    assert result.iterations == 30
    torch.testing.assert_close(result.marginal_error, error, rtol=1e-9, atol=1e-13)
    torch.testing.assert_close(result.converged, error <= tol)
    assert 0 < int(result.converged.sum()) < len(error)


# --------------------------------------------------------------------------- objective value


def entropic_value(plan, cost, a, b, eps, tau=None) -> float:
    """<P, C> + eps KL(P | a b^T) (+ tau KL of the marginals), from the plan alone."""
    ref = np.outer(a, b)
    value = (plan * cost).sum() + eps * (plan * np.log(plan / ref) - plan + ref).sum()
    if tau is not None:
        for p, q in ((plan.sum(1), a), (plan.sum(0), b)):
            value += tau * (p * np.log(p / q) - p + q).sum()
    return float(value)


@pytest.mark.parametrize("tau", [None, 0.5])
@pytest.mark.parametrize("eps", [0.5, 0.05])
def test_value_is_the_entropic_objective(eps, tau):
    data = default_batch(seed=8)
    result = sinkhorn(data.cost, data.a, data.b, eps=eps, tau=tau, mask_a=data.len_a, mask_b=data.len_b, **TIGHT)
    for k in range(data.cost.shape[0]):
        cost, a, b = data.item(k)
        expected = entropic_value(data.block(result.plan, k), cost, a, b, eps, tau)
        assert float(result.value[k]) == pytest.approx(expected, abs=1e-9)
        assert float(result.cost[k]) == pytest.approx(float((data.block(result.plan, k) * cost).sum()), abs=1e-12)


def test_value_lower_bounds_every_other_coupling():
    # The entropic objective is minimal at the solution: the independent coupling a b^T is worse.
    data = default_batch(seed=9)
    eps = 0.1
    result = sinkhorn(data.cost, data.a, data.b, eps=eps, mask_a=data.len_a, mask_b=data.len_b, **TIGHT)
    for k in range(data.cost.shape[0]):
        cost, a, b = data.item(k)
        independent = float((np.outer(a, b) * cost).sum())  # its KL term is 0
        assert float(result.value[k]) <= independent + 1e-12


# --------------------------------------------------------------------------- options


@pytest.mark.parametrize(
    ("method", "eps_scaling", "max_iter"),
    [
        ("log", None, 1),
        ("log", None, 17),
        ("log", None, 60),
        ("log", None, 300),
        ("stabilized", None, 60),
        ("log", 0.5, 60),
        ("stabilized", 0.5, 60),
    ],
)
def test_fixed_iteration_count_without_tol(method, eps_scaling, max_iter):
    data = default_batch(seed=10)
    # check_every=1: see test_reported_error_is_that_of_the_returned_plan for sparser checks.
    result = sinkhorn(
        data.cost,
        data.a,
        data.b,
        eps=0.05,
        mask_a=data.len_a,
        mask_b=data.len_b,
        tol=None,
        max_iter=max_iter,
        method=method,
        eps_scaling=eps_scaling,
        check_every=1,
    )
    assert result.iterations == max_iter
    plan = result.plan
    assert bool(torch.isfinite(plan).all()) and bool((plan >= 0).all())
    for k in range(plan.shape[0]):
        assert torch.count_nonzero(plan[k, int(data.len_a[k]) :]) == 0
        assert torch.count_nonzero(plan[k, :, int(data.len_b[k]) :]) == 0
    recomputed = marginal_l1(plan, data.a, data.b)
    torch.testing.assert_close(result.marginal_error, recomputed, rtol=1e-6, atol=1e-12)
    torch.testing.assert_close(result.converged, recomputed <= DEFAULT_TOL)
    if max_iter == 300:
        reference = sinkhorn(data.cost, data.a, data.b, eps=0.05, mask_a=data.len_a, mask_b=data.len_b, **TIGHT)
        torch.testing.assert_close(plan, reference.plan, rtol=0, atol=1e-6)


@pytest.mark.parametrize(
    ("method", "check_every"),
    [
        ("log", 5),
        ("log", 10),
        ("stabilized", 5),
        ("stabilized", 10),
    ],
)
@pytest.mark.parametrize("tol", [None, 1e-12])
def test_reported_error_is_that_of_the_returned_plan(method, check_every, tol):
    data = default_batch(seed=10)
    for max_iter in range(41, 61):  # over-relaxation starts after 40 plain iterations
        result = sinkhorn(
            data.cost,
            data.a,
            data.b,
            eps=0.05,
            mask_a=data.len_a,
            mask_b=data.len_b,
            tol=tol,
            max_iter=max_iter,
            method=method,
            eps_scaling=None,
            check_every=check_every,
        )
        recomputed = marginal_l1(result.plan, data.a, data.b)
        torch.testing.assert_close(result.marginal_error, recomputed, rtol=1e-6, atol=1e-12, msg=f"{max_iter=}")


def test_budget_exhaustion_between_checks_does_not_claim_convergence():
    cost = torch.rand(2, 6, 7, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    result = sinkhorn(cost, eps=0.05, tol=1e-5, max_iter=44, method="stabilized", eps_scaling=None, check_every=5)
    uniform_a = torch.full((2, 6), 1 / 6, dtype=torch.float64)
    uniform_b = torch.full((2, 7), 1 / 7, dtype=torch.float64)
    measured = marginal_l1(result.plan, uniform_a, uniform_b)
    torch.testing.assert_close(result.converged, measured <= 1e-5)


@pytest.mark.parametrize("init_form", ["result", "potentials"])
@pytest.mark.parametrize("method", METHODS)
def test_warm_start_needs_fewer_iterations(method, init_form):
    data = default_batch(seed=11)
    options = dict(eps=0.05, mask_a=data.len_a, mask_b=data.len_b, method=method, tol=1e-9, eps_scaling=None)
    previous = sinkhorn(data.cost, data.a, data.b, **options)
    noise = torch.rand(data.cost.shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    perturbed = data.cost + 0.01 * noise
    cold = sinkhorn(perturbed, data.a, data.b, **options)
    init = previous if init_form == "result" else (previous.f, previous.g)
    warm = sinkhorn(perturbed, data.a, data.b, init=init, **options)
    assert bool(cold.converged.all()) and bool(warm.converged.all())
    assert warm.iterations < cold.iterations
    torch.testing.assert_close(warm.plan, cold.plan, rtol=0, atol=1e-7)


def test_zero_weights_act_as_padding():
    data = default_batch(seed=12)
    masked = sinkhorn(data.cost, data.a, data.b, eps=0.1, mask_a=data.len_a, mask_b=data.len_b, **TIGHT)
    # Padded costs are garbage and weights are zero there: no mask needed.
    by_weights = sinkhorn(data.cost, data.a, data.b, eps=0.1, **TIGHT)
    torch.testing.assert_close(by_weights.plan, masked.plan, rtol=0, atol=1e-12)


def test_masks_override_weights_on_padding():
    data = default_batch(seed=13)
    junk = torch.rand(data.a.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    a = torch.where(data.mask_a, data.a, 1.0 + junk)
    clean = sinkhorn(data.cost, data.a, data.b, eps=0.1, mask_a=data.len_a, mask_b=data.len_b, **TIGHT)
    dirty = sinkhorn(data.cost, a, data.b, eps=0.1, mask_a=data.len_a, mask_b=data.len_b, **TIGHT)
    torch.testing.assert_close(dirty.plan, clean.plan, rtol=0, atol=1e-12)


def test_default_weights_are_uniform_over_real_tokens():
    data = default_batch(seed=14)
    result = sinkhorn(data.cost, eps=0.1, mask_a=data.len_a, mask_b=data.mask_b, **TIGHT)
    for k in range(data.cost.shape[0]):
        cost, _, _ = data.item(k)
        n, m = cost.shape
        reference = pot_log(cost, np.full(n, 1.0 / n), np.full(m, 1.0 / m), 0.1)
        np.testing.assert_allclose(data.block(result.plan, k), reference, rtol=0, atol=1e-8)


# --------------------------------------------------------------------------- batch vs single item


@pytest.mark.parametrize("tau", [None, 1.0])
@pytest.mark.parametrize("method", METHODS)
def test_batched_solve_equals_single_item_solves(method, tau):
    data = default_batch(seed=15)
    batched = sinkhorn(
        data.cost, data.a, data.b, eps=0.05, tau=tau, mask_a=data.len_a, mask_b=data.len_b, method=method, **TIGHT
    )
    for k in range(data.cost.shape[0]):
        n, m = int(data.len_a[k]), int(data.len_b[k])
        alone = sinkhorn(
            data.cost[k : k + 1, :n, :m],
            data.a[k : k + 1, :n],
            data.b[k : k + 1, :m],
            eps=0.05,
            tau=tau,
            method=method,
            **TIGHT,
        )
        torch.testing.assert_close(batched.plan[k, :n, :m], alone.plan[0], rtol=0, atol=1e-9)
        assert float(batched.cost[k]) == pytest.approx(float(alone.cost[0]), abs=1e-9)
        assert float(batched.value[k]) == pytest.approx(float(alone.value[0]), abs=1e-9)


@pytest.mark.parametrize("method", METHODS)
def test_transposed_problem_gives_transposed_plan(method):
    data = default_batch(seed=16)
    forward = sinkhorn(
        data.cost, data.a, data.b, eps=0.05, mask_a=data.len_a, mask_b=data.len_b, method=method, **TIGHT
    )
    backward = sinkhorn(
        data.cost.transpose(1, 2),
        data.b,
        data.a,
        eps=0.05,
        mask_a=data.len_b,
        mask_b=data.len_a,
        method=method,
        **TIGHT,
    )
    torch.testing.assert_close(backward.plan.transpose(1, 2), forward.plan, rtol=0, atol=1e-9)


# --------------------------------------------------------------------------- single token


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("eps", [0.5, 0.05, 1e-3])
@pytest.mark.parametrize("method", METHODS)
def test_single_token_side_gives_outer_product(method, eps, dtype):
    gen = torch.Generator().manual_seed(17)
    cost = (2.0 * torch.rand(3, 5, 6, generator=gen, dtype=torch.float64)).to(dtype)
    len_a, len_b = torch.tensor([1, 5, 4]), torch.tensor([6, 1, 1])
    mask_a = torch.arange(5)[None] < len_a[:, None]
    mask_b = torch.arange(6)[None] < len_b[:, None]
    a = (torch.rand(3, 5, generator=gen, dtype=torch.float64) + 0.1) * mask_a
    b = (torch.rand(3, 6, generator=gen, dtype=torch.float64) + 0.1) * mask_b
    a, b = (a / a.sum(1, keepdim=True)).to(dtype), (b / b.sum(1, keepdim=True)).to(dtype)
    result = sinkhorn(cost, a, b, eps=eps, mask_a=len_a, mask_b=mask_b, method=method, max_iter=300)
    atol = 1e-12 if dtype == torch.float64 else 2e-4
    # n = 1: the only row is b; m = 1: the only column is a.
    torch.testing.assert_close(result.plan[0, 0], b[0], rtol=0, atol=atol)
    torch.testing.assert_close(result.plan[1, :, 0], a[1], rtol=0, atol=atol)
    torch.testing.assert_close(result.plan[2, :, 0], a[2], rtol=0, atol=atol)
    assert bool(torch.isfinite(result.plan).all())


# --------------------------------------------------------------------------- dtypes


@pytest.mark.parametrize("eps", [0.5, 0.1])
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_costs_are_solved_in_float32(dtype, eps):
    batch = planted_alignment(3, 8, 10, 16, seed=5)
    cost = cosine_cost(batch.x, batch.y, batch.x_mask, batch.y_mask)
    half = cost.to(dtype)
    options = dict(eps=eps, mask_a=batch.x_mask, mask_b=batch.y_mask, tol=1e-6)
    result = sinkhorn(half, **options)
    for tensor in (result.plan, result.cost, result.f, result.g, result.value):
        assert tensor.dtype == torch.float32
    assert bool(torch.isfinite(result.plan).all()) and bool(result.converged.all())
    # Exactly the float32 problem of the rounded costs ...
    upcast = sinkhorn(half.float(), **options)
    torch.testing.assert_close(result.plan, upcast.plan, rtol=0, atol=1e-6)
    # ... hence close to the float32 solve, within what rounding the costs can move the plan.
    reference = sinkhorn(cost, **options)
    rounding = float((half.float() - cost).abs().max())
    bound = 4.0 * rounding / eps * float(reference.plan.max())
    assert float((result.plan - reference.plan).abs().max()) <= bound


@pytest.mark.parametrize("method", METHODS)
def test_float64_is_solved_in_float64(method):
    data = default_batch(seed=18)
    result = sinkhorn(data.cost, data.a, data.b, eps=0.1, mask_a=data.len_a, mask_b=data.len_b, method=method)
    for tensor in (result.plan, result.cost, result.f, result.g, result.value, result.marginal_error):
        assert tensor.dtype == torch.float64
    single = sinkhorn(
        data.cost.float(),
        data.a.float(),
        data.b.float(),
        eps=0.1,
        mask_a=data.len_a,
        mask_b=data.len_b,
        method=method,
    )
    assert single.plan.dtype == torch.float32
    torch.testing.assert_close(result.plan.float(), single.plan, rtol=0, atol=1e-5)


# --------------------------------------------------------------------------- property test


@st.composite
def ragged_problems(draw):
    batch = draw(st.integers(1, 3))
    lengths_a = draw(st.lists(st.integers(1, 5), min_size=batch, max_size=batch))
    lengths_b = draw(st.lists(st.integers(1, 5), min_size=batch, max_size=batch))
    extra_a, extra_b = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    seed = draw(st.integers(0, 2**31 - 1))
    data = ragged_batch(lengths_a, lengths_b, seed=seed, n=max(lengths_a) + extra_a, m=max(lengths_b) + extra_b)
    eps = draw(st.floats(0.05, 1.0))
    return data, eps


@settings(max_examples=25, deadline=None)
@given(ragged_problems())
def test_property_methods_agree_and_match_pot(problem):
    data, eps = problem
    plans = {}
    for method in METHODS:
        result = sinkhorn(
            data.cost,
            data.a,
            data.b,
            eps=eps,
            mask_a=data.len_a,
            mask_b=data.mask_b,
            method=method,
            tol=1e-10,
            max_iter=5_000,
        )
        assert bool(result.converged.all())
        plans[method] = result.plan
    torch.testing.assert_close(plans["stabilized"], plans["log"], rtol=0, atol=1e-8)
    for k in range(data.cost.shape[0]):
        cost, a, b = data.item(k)
        np.testing.assert_allclose(data.block(plans["log"], k), pot_log(cost, a, b, eps), rtol=0, atol=1e-6)


def test_warm_start_skips_annealing_by_default():
    data = default_batch(seed=11)
    options = dict(eps=0.05, mask_a=data.len_a, mask_b=data.len_b, tol=1e-9)
    previous = sinkhorn(data.cost, data.a, data.b, **options)
    warm = sinkhorn(data.cost, data.a, data.b, init=previous, **options)
    assert warm.iterations < previous.iterations // 2
