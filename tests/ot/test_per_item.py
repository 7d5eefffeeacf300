"""Per-item stopping: each item of a batch is solved exactly as it is alone; 2-D problems; the
convergence warning."""

from __future__ import annotations

import warnings

import numpy as np
import ot
import pytest
import torch

import optical.ot._driver as driver
import optical.ot._sinkhorn as sinkhorn_module
from optical.ot import ConvergenceWarning, cosine_cost, sinkhorn, transport_loss
from optical.ot.synthetic import planted_alignment


@pytest.fixture(autouse=True)
def one_thread():
    # Bit-for-bit comparisons between batch sizes need the same vectorisation of every item: one
    # thread, and n * m a multiple of 32 (the unrolled SIMD width) so no item ends in a scalar tail.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def fresh_warnings(monkeypatch):
    monkeypatch.setattr(sinkhorn_module, "_WARNED_AT", set())


def structured(batch: int, n: int, m: int, seed: int, dtype=torch.float32):
    planted = planted_alignment(batch, n, m, 32, seed=seed, aligned_fraction=0.8, noise=0.5)
    cost = cosine_cost(planted.x, planted.y, planted.x_mask, planted.y_mask).to(dtype)
    return cost, planted.x_mask, planted.y_mask


def solve_each_alone(cost, mask_a, mask_b, **options):
    return [sinkhorn(cost[k : k + 1], mask_a=mask_a[k : k + 1], mask_b=mask_b[k : k + 1], **options)
            for k in range(cost.shape[0])]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(
    ("method", "omega", "eps", "max_iter"),
    [
        ("stabilized", 1.8, 0.05, 1000),
        ("stabilized", 1.8, 0.01, 1000),
        ("stabilized", "auto", 0.01, 1000),
        ("log", 1.8, 0.01, 1000),
    ],
)
def test_each_item_is_solved_exactly_as_alone(dtype, method, omega, eps, max_iter):
    cost, mask_a, mask_b = structured(10, 16, 32, seed=2, dtype=dtype)
    options = dict(eps=eps, method=method, overrelaxation=omega, max_iter=max_iter, warn=False,
                   eps_start=float(cost.amax()))  # alone, the default eps_start would be the item's own
    batched = sinkhorn(cost, mask_a=mask_a, mask_b=mask_b, **options)
    alone = solve_each_alone(cost, mask_a, mask_b, **options)
    assert len({one.iterations for one in alone}) > 3  # items need different work: retirement happens
    assert_same_items(batched, alone)


@pytest.mark.parametrize("method", ["stabilized", "log"])
def test_items_whose_budget_ends_in_different_stages_are_solved_as_alone(method):
    cost, mask_a, mask_b = structured(10, 16, 32, seed=2)
    cost[::2] *= 0.05  # easy items converge; the others run out of budget in an earlier stage
    options = dict(eps=0.01, method=method, max_iter=40, stage_tol=1e-3, warn=False, eps_start=float(cost.amax()))
    batched = sinkhorn(cost, mask_a=mask_a, mask_b=mask_b, **options)
    alone = solve_each_alone(cost, mask_a, mask_b, **options)
    assert 0 < int(batched.converged.sum()) < 10
    assert len({one.eps for one in alone}) > 1 and batched.eps == max(one.eps for one in alone)
    assert_same_items(batched, alone)
    leaf = cost.clone().requires_grad_(True)  # the implicit gradient takes each item's own eps
    implicit = sinkhorn(leaf, mask_a=mask_a, mask_b=mask_b, grad="implicit", **options)
    implicit.cost.sum().backward()
    for k in range(10):
        one_leaf = cost[k : k + 1].clone().requires_grad_(True)
        one = sinkhorn(one_leaf, mask_a=mask_a[k : k + 1], mask_b=mask_b[k : k + 1], grad="implicit", **options)
        one.cost.sum().backward()
        torch.testing.assert_close(leaf.grad[k], one_leaf.grad[0], rtol=1e-5, atol=1e-6)


def assert_same_items(batched, alone) -> None:
    iterations = [one.iterations for one in alone]
    assert batched.item_iterations.tolist() == iterations
    assert batched.iterations == max(iterations)
    for k, one in enumerate(alone):
        assert torch.equal(batched.plan[k], one.plan[0])
        assert torch.equal(batched.f[k], one.f[0]) and torch.equal(batched.g[k], one.g[0])
        assert torch.equal(batched.marginal_error[k], one.marginal_error[0])
        assert torch.equal(batched.value[k], one.value[0])
        assert bool(batched.converged[k]) == bool(one.converged[0])


# Iterations and transport costs of each item solved alone by the solver before per-item stopping
# (commit 3f30868), float64, default options, eps_start = the batch's largest cost.
BEFORE = {
    ("stabilized", 0.05): [61, 66, 191, 86, 76, 76],
    ("stabilized", 0.01): [101, 146, 266, 141, 161, 141],
    ("log", 0.05): [65, 70, 195, 90, 80, 80],
    ("log", 0.01): [105, 150, 270, 145, 165, 145],
}
COSTS_BEFORE = {
    0.05: [0.304025369099, 0.389547884693, 0.302273999731, 0.375422976275, 0.482481182304, 0.41420936817],
    0.01: [0.301066752067, 0.382009983816, 0.294991941117, 0.371376165586, 0.476760805202, 0.410642064361],
}


@pytest.mark.parametrize(("method", "eps"), list(BEFORE))
def test_batched_items_follow_the_previous_per_item_stopping_rule(method, eps):
    planted = planted_alignment(6, 8, 16, 32, seed=1, aligned_fraction=0.8, noise=0.5)
    cost = cosine_cost(planted.x, planted.y, planted.x_mask, planted.y_mask).double()
    result = sinkhorn(cost, eps=eps, mask_a=planted.x_mask, mask_b=planted.y_mask, method=method)
    assert result.item_iterations.tolist() == BEFORE[(method, eps)]
    np.testing.assert_allclose(result.cost.numpy(), COSTS_BEFORE[eps], rtol=0, atol=1e-11)


@pytest.mark.parametrize("method", ["stabilized", "log"])
def test_compacting_the_working_set_changes_no_bit(monkeypatch, method):
    cost, mask_a, mask_b = structured(12, 16, 32, seed=4)
    options = dict(eps=0.01, mask_a=mask_a, mask_b=mask_b, method=method)
    monkeypatch.setattr(driver, "COMPACT_SHARE", float("inf"))  # retired rows stay in the work
    kept = sinkhorn(cost, **options)
    monkeypatch.setattr(driver, "COMPACT_SHARE", 0.0)  # compact at every retirement
    compacted = sinkhorn(cost, **options)
    assert torch.equal(kept.item_iterations, compacted.item_iterations)
    assert torch.equal(kept.plan, compacted.plan)
    assert torch.equal(kept.f, compacted.f) and torch.equal(kept.g, compacted.g)


def test_unrolled_gradient_through_retirement_matches_items_alone():
    cost, mask_a, mask_b = structured(6, 8, 16, seed=5, dtype=torch.float64)
    options = dict(eps=0.05, grad="unrolled", tol=1e-6, eps_start=float(cost.amax()))
    leaf = cost.clone().requires_grad_(True)
    batched = sinkhorn(leaf, mask_a=mask_a, mask_b=mask_b, **options)
    assert len(set(batched.item_iterations.tolist())) > 1
    (batched.cost.sum()).backward()
    for k in range(cost.shape[0]):
        one_leaf = cost[k : k + 1].clone().requires_grad_(True)
        one = sinkhorn(one_leaf, mask_a=mask_a[k : k + 1], mask_b=mask_b[k : k + 1], **options)
        one.cost.sum().backward()
        torch.testing.assert_close(leaf.grad[k], one_leaf.grad[0], rtol=0, atol=1e-14)


# --------------------------------------------------------------------------- 2-D, as in POT


@pytest.mark.parametrize("method", ["stabilized", "log"])
def test_two_dimensional_cost_matches_pot(method):
    gen = torch.Generator().manual_seed(0)
    cost = torch.rand(7, 11, generator=gen, dtype=torch.float64)
    a = torch.rand(7, generator=gen, dtype=torch.float64) + 0.1
    b = torch.rand(11, generator=gen, dtype=torch.float64) + 0.1
    a, b = a / a.sum(), b / b.sum()
    result = sinkhorn(cost, a, b, eps=0.05, method=method, tol=1e-11, max_iter=5000)
    expected = ot.sinkhorn(a.numpy(), b.numpy(), cost.numpy(), 0.05, method="sinkhorn_log", stopThr=1e-14,
                           numItermax=100_000)
    assert result.plan.shape == (7, 11) and result.f.shape == (7,) and result.g.shape == (11,)
    for name in ("cost", "value", "marginal_error", "converged", "item_iterations"):
        assert getattr(result, name).dim() == 0, name
    np.testing.assert_allclose(result.plan.numpy(), expected, rtol=0, atol=1e-12)
    batched = sinkhorn(cost[None], a[None], b[None], eps=0.05, method=method, tol=1e-11, max_iter=5000)
    assert torch.equal(batched.plan[0], result.plan) and result.iterations == batched.iterations


def test_two_dimensional_cost_with_lengths_and_warm_start():
    cost = torch.rand(6, 9, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    first = sinkhorn(cost, eps=0.1, mask_b=torch.tensor(7))
    assert torch.count_nonzero(first.plan[:, 7:]) == 0
    again = sinkhorn(cost, eps=0.1, mask_b=torch.tensor(7), init=first)
    assert again.iterations <= first.iterations
    torch.testing.assert_close(again.plan, first.plan, rtol=0, atol=1e-5)
    with pytest.raises(ValueError, match=r"a must be 1-D for a 2-D cost, got \(1, 6\)"):
        sinkhorn(cost, torch.full((1, 6), 1 / 6, dtype=torch.float64), eps=0.1)


# --------------------------------------------------------------------------- the warning


def test_unconverged_items_warn_once_per_call_site(fresh_warnings):
    cost = torch.rand(4, 20, 30, generator=torch.Generator().manual_seed(0)) * 2
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):  # a training loop: one call site
            result = sinkhorn(cost, eps=0.01, max_iter=20)
    assert not bool(result.converged.all())
    assert len(caught) == 1 and caught[0].category is ConvergenceWarning
    message = str(caught[0].message)
    missed = int((~result.converged).sum())
    assert f"{missed} of 4 items did not converge within max_iter=20" in message
    assert f"worst marginal L1 error {float(result.marginal_error.max()):.2e} > tol=0.0001" in message
    assert "raise max_iter" in message and "warn=False" in message
    assert caught[0].filename == __file__  # it points at the caller


def test_warning_is_silenced_by_the_option_and_by_filters(fresh_warnings):
    cost = torch.rand(4, 20, 30, generator=torch.Generator().manual_seed(0)) * 2
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sinkhorn(cost, eps=0.01, max_iter=20, warn=False)
        transport_loss(torch.randn(4, 20, 8), torch.randn(4, 30, 8), eps=0.01, tol=1e-12, max_iter=2, warn=False)
        sinkhorn(cost, eps=0.01, tol=None, max_iter=20)  # a fixed budget asks for no tolerance
        sinkhorn(cost, eps=0.05)  # converges
        warnings.simplefilter("ignore", ConvergenceWarning)
        sinkhorn(cost, eps=0.01, max_iter=20)
    assert caught == []


def test_transport_loss_warns_when_asked(fresh_warnings):
    with pytest.warns(ConvergenceWarning, match="did not converge within max_iter=2"):
        transport_loss(torch.randn(4, 20, 8), torch.randn(4, 30, 8), eps=0.01, tol=1e-12, max_iter=2)
