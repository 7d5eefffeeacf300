"""Gradients of :func:`optical.ot.sinkhorn` in its three modes."""

from __future__ import annotations

import pytest
import torch
from torch.autograd import gradcheck

from optical.ot import cosine_cost, sinkhorn

TIGHT = dict(tol=1e-12, max_iter=2_000)


def small_problem(seed: int, padded: bool, batch: int = 2, n: int = 3, m: int = 4):
    """Costs in [0, 1) with random weights; when ``padded`` the last item loses a token on each side."""
    gen = torch.Generator().manual_seed(seed)
    cost = torch.rand(batch, n, m, generator=gen, dtype=torch.float64)
    len_a = torch.full((batch,), n)
    len_b = torch.full((batch,), m)
    if padded:
        len_a[-1], len_b[-1] = n - 1, m - 2
    mask_a = torch.arange(n)[None] < len_a[:, None]
    mask_b = torch.arange(m)[None] < len_b[:, None]
    a = (torch.rand(batch, n, generator=gen, dtype=torch.float64) + 0.2) * mask_a
    b = (torch.rand(batch, m, generator=gen, dtype=torch.float64) + 0.2) * mask_b
    return cost, a / a.sum(1, keepdim=True), b / b.sum(1, keepdim=True), len_a, len_b


def solved(*args, **kwargs):
    """``sinkhorn`` that insists on convergence (a gradient check of a half-solved problem proves little)."""
    result = sinkhorn(*args, **kwargs)
    assert bool(result.converged.all()), result.marginal_error
    return result


# --------------------------------------------------------------------------- gradcheck


@pytest.mark.parametrize("padded", [False, True])
@pytest.mark.parametrize("tau", [None, 1.0])
@pytest.mark.parametrize("grad", ["unrolled", "implicit"])
def test_gradcheck_transport_cost(grad, tau, padded):
    cost, a, b, len_a, len_b = small_problem(0, padded)

    def transport_cost(c):
        return solved(c, a, b, eps=0.3, tau=tau, mask_a=len_a, mask_b=len_b, grad=grad, **TIGHT).cost

    assert gradcheck(transport_cost, (cost.requires_grad_(),), atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("tau", [None, 1.0])
def test_gradcheck_implicit_plan(tau):
    cost, a, b, len_a, len_b = small_problem(1, padded=True)

    def plan(c):
        return solved(c, a, b, eps=0.4, tau=tau, mask_a=len_a, mask_b=len_b, grad="implicit", **TIGHT).plan

    assert gradcheck(plan, (cost.requires_grad_(),), atol=1e-6, rtol=1e-5)


def test_gradcheck_unrolled_weights_balanced():
    # Balanced weights must sum to one, so perturb them through a softmax.
    cost, _, _, _, _ = small_problem(2, padded=False)
    gen = torch.Generator().manual_seed(3)
    logits_a = torch.randn(2, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    logits_b = torch.randn(2, 4, generator=gen, dtype=torch.float64, requires_grad=True)

    def transport_cost(c, la, lb):
        return solved(c, la.softmax(1), lb.softmax(1), eps=0.3, grad="unrolled", **TIGHT).cost

    assert gradcheck(transport_cost, (cost.requires_grad_(), logits_a, logits_b), atol=1e-6, rtol=1e-5)


def test_gradcheck_unrolled_weights_unbalanced():
    cost, a, b, _, _ = small_problem(4, padded=False)

    def plan(wa, wb):
        return solved(cost, wa, wb, eps=0.3, tau=0.5, grad="unrolled", **TIGHT).plan

    inputs = ((1.3 * a).requires_grad_(), (0.8 * b).requires_grad_())
    assert gradcheck(plan, inputs, atol=1e-6, rtol=1e-5)


# --------------------------------------------------------------------------- modes agree


@pytest.mark.parametrize("tau", [None, 1.0])
@pytest.mark.parametrize("padded", [False, True])
def test_implicit_equals_unrolled_at_convergence(padded, tau):
    cost, a, b, len_a, len_b = small_problem(5, padded, batch=3, n=5, m=6)
    gen = torch.Generator().manual_seed(6)
    item_weights = torch.rand(3, generator=gen, dtype=torch.float64)
    plan_weights = torch.randn(3, 5, 6, generator=gen, dtype=torch.float64)
    grads = {}
    for grad in ("unrolled", "implicit"):
        c = cost.clone().requires_grad_()
        result = sinkhorn(c, a, b, eps=0.1, tau=tau, mask_a=len_a, mask_b=len_b, grad=grad, **TIGHT)
        assert bool(result.converged.all())
        through_cost = torch.autograd.grad((result.cost * item_weights).sum(), c, retain_graph=True)[0]
        through_plan = torch.autograd.grad((result.plan * plan_weights).sum(), c)[0]
        grads[grad] = (through_cost, through_plan)
    for unrolled, implicit in zip(grads["unrolled"], grads["implicit"], strict=True):
        assert float(unrolled.abs().max()) > 1e-3  # not trivially zero
        torch.testing.assert_close(implicit, unrolled, rtol=0, atol=1e-8)


@pytest.mark.parametrize("tau", [None, 0.5])
def test_envelope_gradient_is_finite_difference_of_value(tau):
    cost, a, b, len_a, len_b = small_problem(7, padded=True)
    eps, h = 0.3, 1e-5
    options = dict(eps=eps, tau=tau, mask_a=len_a, mask_b=len_b, tol=1e-13, max_iter=2_000)
    c = cost.clone().requires_grad_()
    result = sinkhorn(c, a, b, grad="envelope", **options)
    result.cost.sum().backward()
    assert not result.plan.requires_grad
    finite_diff = torch.zeros_like(cost)
    for index in torch.cartesian_prod(*(torch.arange(s) for s in cost.shape)).tolist():
        k = index[0]
        up, down = cost.clone(), cost.clone()
        up[tuple(index)] += h
        down[tuple(index)] -= h
        value_up = solved(up, a, b, **options).value[k]
        value_down = solved(down, a, b, **options).value[k]
        finite_diff[tuple(index)] = (value_up - value_down) / (2 * h)
    torch.testing.assert_close(c.grad, finite_diff, rtol=0, atol=1e-7)
    # Padded entries do not enter the problem at all.
    assert torch.count_nonzero(finite_diff[-1, 2:, :]) == 0 and torch.count_nonzero(finite_diff[-1, :, 2:]) == 0


# --------------------------------------------------------------------------- padding


@pytest.mark.parametrize("fill", ["zeros", "noise"])
@pytest.mark.parametrize("grad", ["envelope", "implicit", "unrolled"])
def test_padded_embedding_rows_get_exactly_zero_gradient(grad, fill):
    gen = torch.Generator().manual_seed(8)
    x = torch.randn(3, 5, 4, generator=gen, dtype=torch.float64)
    y = torch.randn(3, 6, 4, generator=gen, dtype=torch.float64)
    len_x, len_y = torch.tensor([5, 2, 3]), torch.tensor([6, 6, 1])
    if fill == "zeros":
        x = x * (torch.arange(5)[None, :, None] < len_x[:, None, None])
        y = y * (torch.arange(6)[None, :, None] < len_y[:, None, None])
    x.requires_grad_()
    y.requires_grad_()
    result = sinkhorn(cosine_cost(x, y, len_x, len_y), eps=0.1, mask_a=len_x, mask_b=len_y, grad=grad)
    result.cost.sum().backward()
    for k in range(3):
        assert torch.count_nonzero(x.grad[k, int(len_x[k]) :]) == 0
        assert torch.count_nonzero(y.grad[k, int(len_y[k]) :]) == 0
    assert bool(torch.isfinite(x.grad).all()) and bool(torch.isfinite(y.grad).all())
    # Real tokens do get a gradient.
    assert bool((x.grad[0].abs().sum(1) > 0).all())


@pytest.mark.parametrize("grad", ["envelope", "implicit", "unrolled"])
def test_nan_padding_gives_finite_gradient(grad):
    cost, a, b, len_a, len_b = small_problem(9, padded=True)
    cost[-1, -1, :] = float("nan")
    cost[-1, :, -1] = float("nan")
    cost.requires_grad_()
    result = sinkhorn(cost, a, b, eps=0.3, mask_a=len_a, mask_b=len_b, grad=grad, tol=1e-10)
    result.cost.sum().backward()
    assert bool(torch.isfinite(result.plan).all()) and bool(torch.isfinite(result.cost).all())
    assert bool(torch.isfinite(cost.grad).all())
    assert torch.count_nonzero(cost.grad[-1, 2:, :]) == 0 and torch.count_nonzero(cost.grad[-1, :, 2:]) == 0


# --------------------------------------------------------------------------- small epsilon


@pytest.mark.parametrize(
    ("method", "grad", "max_iter"),
    [("stabilized", "envelope", 1000), ("stabilized", "implicit", 1000), ("log", "unrolled", 200)],
)
def test_small_eps_float32_is_finite(method, grad, max_iter):
    gen = torch.Generator().manual_seed(10)
    cost = 2.0 * torch.rand(3, 10, 12, generator=gen)
    cost[0, 0, 0], cost[0, 1, 1] = 0.0, 2.0  # the extremes of cosine costs
    len_a, len_b = torch.tensor([10, 1, 7]), torch.tensor([12, 5, 1])
    cost.requires_grad_()
    result = sinkhorn(cost, eps=1e-3, mask_a=len_a, mask_b=len_b, method=method, grad=grad, max_iter=max_iter)
    (result.cost * torch.tensor([1.0, 2.0, 3.0])).sum().backward()
    for tensor in (result.plan, result.cost, result.value, cost.grad):
        assert bool(torch.isfinite(tensor).all())
    assert bool((result.plan >= 0).all())
    for k in range(3):
        n, m = int(len_a[k]), int(len_b[k])
        assert torch.count_nonzero(result.plan[k, n:]) == 0 and torch.count_nonzero(result.plan[k, :, m:]) == 0
        assert torch.count_nonzero(cost.grad[k, n:]) == 0 and torch.count_nonzero(cost.grad[k, :, m:]) == 0
        assert float(result.plan[k].detach().sum()) == pytest.approx(1.0, abs=1e-3)
    if method == "stabilized":
        assert bool(result.converged.all())
