"""Validation of :func:`optical.ot.sinkhorn` inputs: bad input raises a ValueError that says where."""

from __future__ import annotations

import pytest
import torch

from optical.ot import lengths_to_mask, sinkhorn

B, N, M = 3, 4, 5
LEN_A, LEN_B = torch.tensor([4, 3, 2]), torch.tensor([5, 2, 4])


def problem(seed: int = 0):
    """A valid padded float64 problem: cost [3, 4, 5] in [0, 1), random weights summing to one."""
    gen = torch.Generator().manual_seed(seed)
    cost = torch.rand(B, N, M, generator=gen, dtype=torch.float64)
    a = (torch.rand(B, N, generator=gen, dtype=torch.float64) + 0.1) * lengths_to_mask(LEN_A, N)
    b = (torch.rand(B, M, generator=gen, dtype=torch.float64) + 0.1) * lengths_to_mask(LEN_B, M)
    return cost, a / a.sum(1, keepdim=True), b / b.sum(1, keepdim=True)


def solve(cost, a=None, b=None, **kwargs):
    kwargs.setdefault("eps", 0.1)
    kwargs.setdefault("mask_a", LEN_A)
    kwargs.setdefault("mask_b", LEN_B)
    return sinkhorn(cost, a, b, **kwargs)


def test_valid_problem_solves():
    cost, a, b = problem()
    assert bool(solve(cost, a, b).converged.all())


# --------------------------------------------------------------------------- shapes


@pytest.mark.parametrize(
    ("which", "shape", "match"),
    [
        ("a", (B, M), r"a has shape \(3, 5\), expected \(3, 4\)"),
        ("a", (B - 1, N), r"a has shape \(2, 4\), expected \(3, 4\)"),
        ("b", (B, N), r"b has shape \(3, 4\), expected \(3, 5\)"),
        ("b", (B, M, 1), r"b has shape \(3, 5, 1\), expected \(3, 5\)"),
    ],
)
def test_weight_shape_mismatch(which, shape, match):
    cost, a, b = problem()
    wrong = torch.full(shape, 1.0 / shape[1], dtype=torch.float64)
    with pytest.raises(ValueError, match=match):
        solve(cost, wrong if which == "a" else a, wrong if which == "b" else b)


@pytest.mark.parametrize(
    ("cost", "match"),
    [
        (torch.rand(N), r"cost must be a tensor of shape \[B, n, m\] or \[n, m\], got \(4,\)"),
        (torch.ones(B, N, M, dtype=torch.int64), "cost must be a floating-point tensor"),
        (torch.rand(B, 0, M), r"cost has an empty dimension: shape \(3, 0, 5\)"),
        ([[[0.0]]], "cost must be a tensor of shape"),
    ],
)
def test_bad_cost_tensor(cost, match):
    with pytest.raises(ValueError, match=match):
        sinkhorn(cost, eps=0.1)


def test_weights_must_be_tensors():
    cost, _, b = problem()
    with pytest.raises(ValueError, match=r"^a must be a tensor of shape \(3, 4\)"):
        solve(cost, [[0.25] * 4] * 3, b)


@pytest.mark.parametrize(
    ("which", "mask", "match"),
    [
        ("mask_a", torch.ones(B, N + 1, dtype=torch.bool), r"mask_a must be a bool tensor of shape \(3, 4\)"),
        ("mask_b", torch.ones(B, M, dtype=torch.int64), r"mask_b must be a bool tensor of shape \(3, 5\)"),
        ("mask_b", torch.tensor([5, 2]), "mask_b holds 2 lengths for a batch of 3"),
        ("mask_a", torch.tensor([4, 5, 2]), r"mask_a: length 5 of item 1 is outside \[0, 4\]"),
        ("mask_b", torch.tensor([5, 2, -1]), r"mask_b: length -1 of item 2 is outside \[0, 5\]"),
        ("mask_a", torch.tensor([4.0, 3.0, 2.0]), "mask_a: lengths must be integers"),
    ],
)
def test_bad_mask(which, mask, match):
    cost, _, _ = problem()
    with pytest.raises(ValueError, match=match):
        solve(cost, **{which: mask})


def test_init_shape_mismatch():
    cost, a, b = problem()
    with pytest.raises(ValueError, match=r"init: g has shape \(3, 4\), expected \(3, 5\)"):
        solve(cost, a, b, init=(None, torch.zeros(B, N, dtype=torch.float64)))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="a device mismatch needs a second device")
@pytest.mark.parametrize("which", ["a", "mask_b"])
def test_device_mismatch(which):
    cost, a, b = problem()
    cost = cost.cuda()
    kwargs = {"mask_a": LEN_A.cuda(), "mask_b": LEN_B.cuda()}
    if which == "a":
        a, b = a, b.cuda()
    else:
        a, b, kwargs["mask_b"] = a.cuda(), b.cuda(), LEN_B
    with pytest.raises(ValueError, match=f"{which} is on cpu but cost is on cuda"):
        sinkhorn(cost, a, b, eps=0.1, **kwargs)


# --------------------------------------------------------------------------- values


@pytest.mark.parametrize(("value", "word"), [(float("nan"), "NaN"), (float("inf"), "infinite"), (-0.5, "negative")])
def test_bad_real_cost_names_the_entry(value, word):
    cost, a, b = problem()
    cost[2, 1, 3] = value  # real: item 2 has 2 sources and 4 targets
    with pytest.raises(ValueError, match=rf"cost\[2, 1, 3\] = {value} is {word}"):
        solve(cost, a, b)


def test_first_offending_item_is_named():
    cost, a, b = problem()
    cost[1, 0, 1] = -1.0
    cost[2, 1, 3] = float("nan")
    with pytest.raises(ValueError, match=r"^cost\[1, 0, 1\] = -1.0 is negative"):
        solve(cost, a, b)
    cost, a, b = problem()
    a[1] *= 0.5
    a[2] *= 2.0
    with pytest.raises(ValueError, match=r"^a\[1\] sums to 0.5\b"):
        solve(cost, a, b)


@pytest.mark.parametrize("method", ["stabilized", "log"])
@pytest.mark.parametrize("value", [float("nan"), float("inf"), -0.5])
def test_bad_padded_cost_is_ignored(value, method):
    cost, a, b = problem()
    clean = solve(cost, a, b, method=method, tol=1e-10)
    cost[2, 3, 0] = value  # padded source of item 2
    cost[1, 0, 4] = value  # padded target of item 1
    result = solve(cost, a, b, method=method, tol=1e-10)
    assert bool(torch.isfinite(result.plan).all()) and bool(torch.isfinite(result.cost).all())
    assert bool(result.converged.all())
    torch.testing.assert_close(result.plan, clean.plan, rtol=0, atol=1e-14)


@pytest.mark.parametrize("which", ["a", "b"])
def test_weights_not_summing_to_one_name_the_item(which):
    cost, a, b = problem()
    (a if which == "a" else b)[1] *= 0.9
    with pytest.raises(ValueError, match=rf"{which}\[1\] sums to 0.9\b.*sum to one per item"):
        solve(cost, a, b)
    # The same weights are a valid unbalanced problem.
    assert bool(solve(cost, a, b, tau=1.0).converged.all())


def test_float32_weights_sum_tolerance():
    cost, a, b = problem()
    a32 = a.float()
    a32[2, 0] += 1e-3
    with pytest.raises(ValueError, match=r"a\[2\] sums to 1\.001"):
        solve(cost.float(), a32, b.float())


@pytest.mark.parametrize(("value", "word"), [(-0.1, "-0.1"), (float("nan"), "nan"), (float("inf"), "inf")])
def test_bad_weight_names_the_entry(value, word):
    cost, a, b = problem()
    b[2, 1] = value
    with pytest.raises(ValueError, match=rf"b\[2, 1\] = {word}: weights must be finite and >= 0"):
        solve(cost, a, b)


@pytest.mark.parametrize("eps", [0.0, -0.1, float("nan"), float("inf"), True, "0.1"])
def test_bad_eps(eps):
    cost, a, b = problem()
    with pytest.raises(ValueError, match=r"^eps must be a finite number > 0"):
        solve(cost, a, b, eps=eps)


@pytest.mark.parametrize(
    ("option", "value", "match"),
    [
        ("tau", 0.0, "^tau must be a finite number > 0"),
        ("tau", -1.0, "^tau must be a finite number > 0"),
        ("tol", 0.0, "^tol must be a finite number > 0"),
        ("eps_start", -1.0, "^eps_start must be a finite number > 0"),
        ("max_iter", -1, "^max_iter must be an integer >= 0"),
        ("max_iter", 10.0, "^max_iter must be an integer >= 0"),
        ("eps_scaling", 1.0, r"^eps_scaling must lie in \(0, 1\)"),
        ("eps_scaling", 0.0, r"^eps_scaling must lie in \(0, 1\)"),
        ("overrelaxation", 2.0, r"^overrelaxation must be 'auto' or a number in \(0, 2\)"),
        ("overrelaxation", "fast", r"^overrelaxation must be 'auto' or a number in \(0, 2\)"),
        ("check_every", 0, "^check_every must be an integer >= 1"),
    ],
)
def test_bad_options(option, value, match):
    cost, a, b = problem()
    with pytest.raises(ValueError, match=match):
        solve(cost, a, b, **{option: value})


@pytest.mark.parametrize(
    ("which", "kwargs"),
    [
        ("a", {"mask_a": torch.tensor([4, 0, 2])}),
        ("b", {"mask_b": torch.tensor([5, 2, 0])}),
        ("a", {"mask_a": lengths_to_mask(torch.tensor([4, 0, 2]), N)}),
        ("b", {"mask_b": lengths_to_mask(torch.tensor([5, 2, 0]), M)}),
    ],
)
@pytest.mark.parametrize("weights", ["given", "default"])
def test_item_without_real_token(which, kwargs, weights):
    cost, a, b = problem()
    item = 1 if which == "a" else 2
    if weights == "default":
        a = b = None
    with pytest.raises(ValueError, match=rf"item {item} has no real token in {which}\b"):
        solve(cost, a, b, **kwargs)


def test_item_whose_real_tokens_all_have_zero_weight():
    cost, a, b = problem()
    a[1] = 0.0
    with pytest.raises(ValueError, match=r"item 1 has no real token in a\b"):
        solve(cost, a, b)


# --------------------------------------------------------------------------- modes


@pytest.mark.parametrize(
    ("option", "value", "match"),
    [
        ("grad", "exact", r"grad must be one of \('envelope', 'implicit', 'unrolled'\), got 'exact'"),
        ("method", "sinkhorn", r"method must be one of \('auto', 'stabilized', 'log'\), got 'sinkhorn'"),
    ],
)
def test_unknown_mode_names(option, value, match):
    cost, a, b = problem()
    with pytest.raises(ValueError, match=match):
        solve(cost, a, b, **{option: value})


def test_unrolled_needs_log_domain():
    cost, a, b = problem()
    with pytest.raises(ValueError, match=r"grad='unrolled'.*method='log'"):
        solve(cost, a, b, grad="unrolled", method="stabilized")


@pytest.mark.parametrize("which", ["a", "b"])
@pytest.mark.parametrize("grad", ["envelope", "implicit"])
def test_weights_requiring_grad_need_unrolled(grad, which):
    cost, a, b = problem()
    (a if which == "a" else b).requires_grad_()
    with pytest.raises(ValueError, match=rf"a or b requires grad, but grad='{grad}'.*grad='unrolled'"):
        solve(cost, a, b, grad=grad)
    # Without autograd there is nothing to differentiate, hence nothing to refuse.
    with torch.no_grad():
        assert bool(solve(cost, a, b, grad=grad).converged.all())


def test_check_inputs_false_skips_value_checks():
    cost, a, b = problem()
    a[1] *= 0.9
    # No error: the caller vouches for the values (and gets the solve of what was passed).
    result = solve(cost, a, b, check_inputs=False, max_iter=50)
    assert bool(torch.isfinite(result.plan).all())
    with pytest.raises(ValueError, match=r"a\[1\] sums to"):
        solve(cost, a, b, check_inputs=True)


def test_unchecked_infinite_cost_is_refused_not_a_hang() -> None:
    cost = torch.rand(2, 3, 4)
    cost[1, 0, 0] = float("inf")
    with pytest.raises(ValueError, match="eps_start must be finite"):
        sinkhorn(cost, eps=0.1, check_inputs=False, max_iter=100)


@pytest.mark.parametrize("method", ["stabilized", "log"])
def test_unchecked_nan_cost_returns_within_max_iter(method) -> None:
    cost = torch.rand(2, 3, 4)
    cost[1, 0, 0] = float("nan")
    result = sinkhorn(cost, eps=0.1, check_inputs=False, max_iter=30, method=method, eps_scaling=None)
    assert result.iterations <= 30
    assert not bool(result.converged[1])
