"""Validation and normalisation of a batch of transport problems.

Everything the solvers need is gathered once here so that the iterations themselves never
branch on padding, dtypes or defaults: padded entries of the cost are zero, padded weights are
zero and their logarithms ``-inf``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

_HALF = (torch.float16, torch.bfloat16)


@dataclass(frozen=True)
class Problem:
    """A validated batch of entropic transport problems in the dtype they are solved in.

    Attributes
    ----------
    cost : Tensor [B, n, m]
        Cost with padded entries set to zero (keeps the autograd graph of the input).
    a, b : Tensor [B, n], [B, m]
        Source and target weights, exactly zero on padding.
    log_a, log_b : Tensor
        Their logarithms, ``-inf`` on padding.
    mask_a, mask_b : BoolTensor
        True on real tokens.
    """

    cost: torch.Tensor
    a: torch.Tensor
    b: torch.Tensor
    log_a: torch.Tensor
    log_b: torch.Tensor
    mask_a: torch.Tensor
    mask_b: torch.Tensor


def solve_dtype(dtype: torch.dtype) -> torch.dtype:
    """float16 and bfloat16 are solved in float32; float32 and float64 as they are."""
    return torch.float32 if dtype in _HALF else dtype


def lengths_to_mask(lengths: torch.Tensor, size: int) -> torch.Tensor:
    """Boolean mask [B, size] that is True on the first ``lengths[i]`` positions of row i."""
    positions = torch.arange(size, device=lengths.device)
    return positions[None, :] < lengths[:, None]


def as_mask(mask: torch.Tensor | None, name: str, batch: int, size: int, device) -> torch.Tensor | None:
    """Validate a mask (bool [batch, size] or lengths [batch]) into a bool mask, or None."""
    if mask is None:
        return None
    if not isinstance(mask, torch.Tensor):
        raise ValueError(f"{name} must be a bool tensor [B, {size}] or a tensor of lengths [B]")
    if mask.device != device:
        raise ValueError(f"{name} is on {mask.device} but cost is on {device}")
    if mask.dim() == 1 and mask.dtype != torch.bool:
        if mask.shape[0] != batch:
            raise ValueError(f"{name} holds {mask.shape[0]} lengths for a batch of {batch}")
        if mask.is_floating_point():
            raise ValueError(f"{name}: lengths must be integers, got {mask.dtype}")
        over = (mask > size) | (mask < 0)
        if over.any():
            item = int(over.nonzero()[0, 0])
            raise ValueError(f"{name}: length {int(mask[item])} of item {item} is outside [0, {size}]")
        return lengths_to_mask(mask, size)
    if mask.dtype != torch.bool or tuple(mask.shape) != (batch, size):
        raise ValueError(
            f"{name} must be a bool tensor of shape ({batch}, {size}) or lengths of shape ({batch},), "
            f"got {mask.dtype} {tuple(mask.shape)}"
        )
    return mask


def _weights(
    w: torch.Tensor | None,
    name: str,
    mask: torch.Tensor | None,
    batch: int,
    size: int,
    dtype: torch.dtype,
    device,
    *,
    balanced: bool,
    check: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    if w is None:
        real = mask if mask is not None else torch.ones(batch, size, dtype=torch.bool, device=device)
        counts = real.sum(1, keepdim=True)
        if check and bool((counts == 0).any()):
            item = int((counts[:, 0] == 0).nonzero()[0, 0])
            raise ValueError(f"item {item} has no real token in {name}")
        w = real.to(dtype) / counts.clamp_min(1).to(dtype)
        return w, real
    if not isinstance(w, torch.Tensor):
        raise ValueError(f"{name} must be a tensor of shape ({batch}, {size})")
    if tuple(w.shape) != (batch, size):
        raise ValueError(f"{name} has shape {tuple(w.shape)}, expected ({batch}, {size}) to match cost")
    if w.device != device:
        raise ValueError(f"{name} is on {w.device} but cost is on {device}")
    w = w.to(dtype)
    if check:
        bad = ~torch.isfinite(w) | (w < 0)
        if bool(bad.any()):
            item, pos = (int(i) for i in bad.nonzero()[0])
            raise ValueError(f"{name}[{item}, {pos}] = {float(w[item, pos])}: weights must be finite and >= 0")
    real = w > 0
    if mask is not None:
        real = real & mask
        w = torch.where(mask, w, torch.zeros((), dtype=dtype, device=device))
    if check:
        empty = ~real.any(1)
        if bool(empty.any()):
            item = int(empty.nonzero()[0, 0])
            raise ValueError(f"item {item} has no real token in {name}")
        if balanced:
            sums = w.detach().sum(1)
            tolerance = 1e-9 if dtype == torch.float64 else 1e-4
            off = (sums - 1).abs() > tolerance
            if bool(off.any()):
                item = int(off.nonzero()[0, 0])
                raise ValueError(
                    f"{name}[{item}] sums to {float(sums[item]):.8g}; balanced transport needs weights that "
                    f"sum to one per item (normalise them, or pass tau= for unbalanced transport)"
                )
    return w, real


def prepare(
    cost: torch.Tensor,
    a: torch.Tensor | None,
    b: torch.Tensor | None,
    mask_a: torch.Tensor | None,
    mask_b: torch.Tensor | None,
    *,
    balanced: bool,
    check: bool,
) -> Problem:
    """Validate inputs and build the :class:`Problem` the solvers iterate on.

    With ``check=False`` only cheap shape checks run, so that nothing synchronises with the
    device (the fixed-iteration path used under ``torch.compile`` or CUDA graphs).
    """
    if not isinstance(cost, torch.Tensor) or cost.dim() != 3:
        shape = tuple(cost.shape) if isinstance(cost, torch.Tensor) else type(cost).__name__
        raise ValueError(f"cost must be a tensor of shape [B, n, m] or [n, m], got {shape}")
    if not cost.is_floating_point():
        raise ValueError(f"cost must be a floating-point tensor, got {cost.dtype}")
    batch, n, m = cost.shape
    if batch == 0 or n == 0 or m == 0:
        raise ValueError(f"cost has an empty dimension: shape {tuple(cost.shape)}")
    device = cost.device
    dtype = solve_dtype(cost.dtype)
    ma = as_mask(mask_a, "mask_a", batch, n, device)
    mb = as_mask(mask_b, "mask_b", batch, m, device)
    a_w, real_a = _weights(a, "a", ma, batch, n, dtype, device, balanced=balanced, check=check)
    b_w, real_b = _weights(b, "b", mb, batch, m, dtype, device, balanced=balanced, check=check)

    cost = cost.to(dtype)
    pair_mask = real_a[:, :, None] & real_b[:, None, :]
    if check:
        bad = pair_mask & (~torch.isfinite(cost.detach()) | (cost.detach() < 0))
        if bool(bad.any()):
            item, i, j = (int(k) for k in bad.nonzero()[0])
            value = float(cost[item, i, j])
            what = "NaN" if math.isnan(value) else ("infinite" if math.isinf(value) else "negative")
            raise ValueError(
                f"cost[{item}, {i}, {j}] = {value} is {what}; costs must be finite and >= 0 on real tokens"
            )
    all_real = bool(real_a.all()) and bool(real_b.all()) if check else False
    if not all_real:
        # Padded entries may hold anything (even NaN); zero keeps every iteration finite.
        cost = cost.masked_fill(~pair_mask, 0.0)
        zero = torch.zeros((), dtype=dtype, device=device)
        a_w = torch.where(real_a, a_w, zero)
        b_w = torch.where(real_b, b_w, zero)
    # log(0) is never evaluated, so no NaN gradient can reach padded weights.
    neg_inf = torch.tensor(float("-inf"), dtype=dtype, device=device)
    log_a = torch.where(real_a, torch.where(real_a, a_w, 1.0).log(), neg_inf)
    log_b = torch.where(real_b, torch.where(real_b, b_w, 1.0).log(), neg_inf)
    return Problem(cost, a_w, b_w, log_a, log_b, real_a, real_b)
