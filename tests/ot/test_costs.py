"""Cost matrices between padded token batches, and the transport loss built on them."""

from __future__ import annotations

import numpy as np
import ot
import pytest
import torch

from optical.ot import COSTS, cosine_cost, sinkhorn, sqeuclidean_cost, transport_loss

LEN_X, LEN_Y = torch.tensor([5, 2, 3]), torch.tensor([6, 6, 1])


def embeddings(seed: int, dtype=torch.float64, d: int = 8):
    """Token batches x [3, 5, d], y [3, 6, d] with random (non-zero) garbage on padded tokens."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(3, 5, d, generator=gen, dtype=torch.float64).to(dtype)
    y = torch.randn(3, 6, d, generator=gen, dtype=torch.float64).to(dtype)
    return x, y


def as_mask(lengths: torch.Tensor, size: int) -> torch.Tensor:
    return torch.arange(size)[None, :] < lengths[:, None]


def numpy_cosine_distance(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    xn = x / np.linalg.norm(x, axis=-1, keepdims=True)
    yn = y / np.linalg.norm(y, axis=-1, keepdims=True)
    return 1.0 - xn @ yn.T


# --------------------------------------------------------------------------- values


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cosine_cost_is_one_minus_cosine(dtype):
    x, y = embeddings(0, dtype)
    cost = cosine_cost(x, y)
    assert cost.shape == (3, 5, 6) and cost.dtype == dtype
    atol = 1e-12 if dtype == torch.float64 else 1e-6
    for k in range(3):
        expected = numpy_cosine_distance(x[k].double().numpy(), y[k].double().numpy())
        np.testing.assert_allclose(cost[k].double().numpy(), expected, rtol=0, atol=atol)
    assert bool((cost >= 0).all()) and bool((cost <= 2).all())


def test_cosine_cost_extremes_stay_in_range():
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(2, 4, 16, generator=gen)
    scale = torch.rand(2, 4, 1, generator=gen) * 100 + 0.01
    y = torch.cat([x * scale, -x * scale], dim=1)  # parallel and anti-parallel copies
    cost = cosine_cost(x, y)
    assert bool((cost >= 0).all()) and bool((cost <= 2).all())
    diagonal = torch.arange(4)
    torch.testing.assert_close(cost[:, diagonal, diagonal], torch.zeros(2, 4), rtol=0, atol=1e-6)
    torch.testing.assert_close(cost[:, diagonal, diagonal + 4], torch.full((2, 4), 2.0), rtol=0, atol=1e-6)


def test_sqeuclidean_cost_matches_pot_dist():
    x, y = embeddings(2)
    cost = sqeuclidean_cost(x, y)
    for k in range(3):
        np.testing.assert_allclose(cost[k].numpy(), ot.dist(x[k].numpy(), y[k].numpy()), rtol=1e-12, atol=1e-12)
    assert bool((cost >= 0).all())


@pytest.mark.parametrize("mask_form", ["lengths", "bool"])
@pytest.mark.parametrize("name", sorted(COSTS))
def test_padded_pairs_are_zero_and_real_pairs_unchanged(name, mask_form):
    x, y = embeddings(3)
    x_mask, y_mask = (LEN_X, LEN_Y) if mask_form == "lengths" else (as_mask(LEN_X, 5), as_mask(LEN_Y, 6))
    masked = COSTS[name](x, y, x_mask, y_mask)
    unmasked = COSTS[name](x, y)
    for k in range(3):
        n, m = int(LEN_X[k]), int(LEN_Y[k])
        assert torch.count_nonzero(masked[k, n:]) == 0 and torch.count_nonzero(masked[k, :, m:]) == 0
        torch.testing.assert_close(masked[k, :n, :m], unmasked[k, :n, :m], rtol=0, atol=0)
    # One-sided masks pad one side only.
    only_y = COSTS[name](x, y, None, y_mask)
    assert torch.count_nonzero(only_y[2, :, 1:]) == 0 and bool((only_y[2, :, 0] > 0).all())


def test_cosine_cost_of_zero_padding_has_no_nan_gradient():
    x, y = embeddings(4)
    x = (x * as_mask(LEN_X, 5)[:, :, None]).requires_grad_()
    y = (y * as_mask(LEN_Y, 6)[:, :, None]).requires_grad_()
    cost = cosine_cost(x, y, LEN_X, LEN_Y)
    cost.sum().backward()
    assert bool(torch.isfinite(cost).all())
    assert bool(torch.isfinite(x.grad).all()) and bool(torch.isfinite(y.grad).all())
    assert torch.count_nonzero(x.grad[1, 2:]) == 0 and torch.count_nonzero(y.grad[2, 1:]) == 0


@pytest.mark.parametrize(
    ("x_shape", "y_shape", "match"),
    [
        ((3, 5), (3, 6, 8), "must be \\[B, n, d\\]"),
        ((3, 5, 8), (2, 6, 8), "differ in batch size or width"),
        ((3, 5, 8), (3, 6, 7), "differ in batch size or width"),
    ],
)
@pytest.mark.parametrize("name", sorted(COSTS))
def test_cost_shape_errors(name, x_shape, y_shape, match):
    with pytest.raises(ValueError, match=match):
        COSTS[name](torch.randn(x_shape), torch.randn(y_shape))


def test_cost_mask_errors_name_the_mask():
    x, y = embeddings(5)
    with pytest.raises(ValueError, match=r"y_mask: length 7 of item 1 is outside \[0, 6\]"):
        cosine_cost(x, y, None, torch.tensor([6, 7, 1]))
    with pytest.raises(ValueError, match=r"x_mask must be a bool tensor of shape \(3, 5\)"):
        sqeuclidean_cost(x, y, torch.ones(3, 4, dtype=torch.bool), None)


# --------------------------------------------------------------------------- transport loss


@pytest.mark.parametrize("options", [{}, {"tau": 1.0}, {"grad": "implicit", "method": "log"}])
@pytest.mark.parametrize("name", sorted(COSTS))
def test_transport_loss_reductions_match_sinkhorn(name, options):
    x, y = embeddings(6)
    expected = sinkhorn(COSTS[name](x, y, LEN_X, LEN_Y), eps=0.1, mask_a=LEN_X, mask_b=LEN_Y, **options).cost
    per_item = transport_loss(x, y, LEN_X, LEN_Y, eps=0.1, cost=name, reduction="none", **options)
    assert per_item.shape == (3,)
    torch.testing.assert_close(per_item, expected, rtol=0, atol=1e-12)
    total = transport_loss(x, y, LEN_X, LEN_Y, eps=0.1, cost=name, reduction="sum", **options)
    mean = transport_loss(x, y, LEN_X, LEN_Y, eps=0.1, cost=name, reduction="mean", **options)
    default = transport_loss(x, y, LEN_X, LEN_Y, eps=0.1, cost=name, **options)
    assert total.shape == () and mean.shape == ()
    torch.testing.assert_close(total, expected.sum(), rtol=0, atol=1e-12)
    torch.testing.assert_close(mean, expected.mean(), rtol=0, atol=1e-12)
    torch.testing.assert_close(default, mean, rtol=0, atol=0)


def test_transport_loss_with_weights_matches_pot():
    x, y = embeddings(7)
    gen = torch.Generator().manual_seed(8)
    b = torch.rand(3, 6, generator=gen, dtype=torch.float64) * as_mask(LEN_Y, 6)
    b = b / b.sum(1, keepdim=True)
    loss = transport_loss(x, y, LEN_X, LEN_Y, eps=0.1, b=b, reduction="none", tol=1e-11, max_iter=20_000)
    cost = cosine_cost(x, y)
    for k in range(3):
        n, m = int(LEN_X[k]), int(LEN_Y[k])
        block = cost[k, :n, :m].numpy()
        plan = ot.bregman.sinkhorn_log(
            np.full(n, 1.0 / n), b[k, :m].numpy(), block, 0.1, stopThr=1e-14, numItermax=100_000
        )
        assert float(loss[k]) == pytest.approx(float((plan * block).sum()), abs=1e-8)


@pytest.mark.parametrize("grad", ["envelope", "implicit", "unrolled"])
@pytest.mark.parametrize("name", sorted(COSTS))
def test_transport_loss_gradient_to_padded_student_rows_is_zero(name, grad):
    teacher, student = embeddings(9)
    student.requires_grad_()
    loss = transport_loss(teacher, student, LEN_X, LEN_Y, eps=0.05, cost=name, grad=grad)
    loss.backward()
    assert bool(torch.isfinite(student.grad).all())
    for k in range(3):
        assert torch.count_nonzero(student.grad[k, int(LEN_Y[k]) :]) == 0
        assert bool((student.grad[k, : int(LEN_Y[k])].abs().sum(1) > 0).all())


def test_transport_loss_gradient_equals_explicit_pipeline():
    teacher, student = embeddings(10)
    first = student.clone().requires_grad_()
    transport_loss(teacher, first, LEN_X, LEN_Y, eps=0.1, reduction="sum").backward()
    second = student.clone().requires_grad_()
    sinkhorn(cosine_cost(teacher, second, LEN_X, LEN_Y), eps=0.1, mask_a=LEN_X, mask_b=LEN_Y).cost.sum().backward()
    torch.testing.assert_close(first.grad, second.grad, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"cost": "euclid"}, "cost must be one of"), ({"reduction": "max"}, "reduction must be")],
)
def test_transport_loss_rejects_unknown_options(kwargs, match):
    x, y = embeddings(11)
    with pytest.raises(ValueError, match=match):
        transport_loss(x, y, eps=0.1, **kwargs)
