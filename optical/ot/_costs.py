"""Costs between two padded batches of token embeddings, and the transport loss."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ._problem import as_mask
from ._sinkhorn import sinkhorn


def _pair_mask(x: torch.Tensor, y: torch.Tensor, x_mask, y_mask) -> torch.Tensor | None:
    xm = as_mask(x_mask, "x_mask", x.shape[0], x.shape[1], x.device)
    ym = as_mask(y_mask, "y_mask", y.shape[0], y.shape[1], y.device)
    if xm is None and ym is None:
        return None
    xm = torch.ones(x.shape[:2], dtype=torch.bool, device=x.device) if xm is None else xm
    ym = torch.ones(y.shape[:2], dtype=torch.bool, device=y.device) if ym is None else ym
    return xm.unsqueeze(2) & ym.unsqueeze(1)


def _check_pair(x: torch.Tensor, y: torch.Tensor) -> None:
    if x.dim() != 3 or y.dim() != 3:
        raise ValueError(f"x and y must be [B, n, d] and [B, m, d], got {tuple(x.shape)} and {tuple(y.shape)}")
    if x.shape[0] != y.shape[0] or x.shape[2] != y.shape[2]:
        raise ValueError(f"x {tuple(x.shape)} and y {tuple(y.shape)} differ in batch size or width")
    if x.device != y.device:
        raise ValueError(f"x is on {x.device} but y is on {y.device}")


def cosine_cost(x: torch.Tensor, y: torch.Tensor, x_mask=None, y_mask=None) -> torch.Tensor:
    r"""Cosine distance :math:`C_{ij} = 1 - \cos(x_i, y_j)` in [0, 2], shape [B, n, m].

    Padded pairs (by ``x_mask`` / ``y_mask``: bool [B, n] or lengths [B]) are 0 and receive no
    gradient, so zero-vector padding never produces NaN. Rounding outside [0, 2] is clipped.
    """
    _check_pair(x, y)
    cost = 1.0 - torch.bmm(F.normalize(x, dim=-1), F.normalize(y, dim=-1).transpose(1, 2))
    cost = cost.clamp(0.0, 2.0)
    mask = _pair_mask(x, y, x_mask, y_mask)
    return cost if mask is None else cost.masked_fill(~mask, 0.0)


def sqeuclidean_cost(x: torch.Tensor, y: torch.Tensor, x_mask=None, y_mask=None) -> torch.Tensor:
    r"""Squared Euclidean cost :math:`C_{ij} = \|x_i - y_j\|^2`, shape [B, n, m], 0 on padded pairs."""
    _check_pair(x, y)
    cost = (x * x).sum(-1).unsqueeze(2) + (y * y).sum(-1).unsqueeze(1) - 2.0 * torch.bmm(x, y.transpose(1, 2))
    cost = cost.clamp_min(0.0)
    mask = _pair_mask(x, y, x_mask, y_mask)
    return cost if mask is None else cost.masked_fill(~mask, 0.0)


COSTS = {"cosine": cosine_cost, "sqeuclidean": sqeuclidean_cost}


def transport_loss(
    x: torch.Tensor,
    y: torch.Tensor,
    x_mask=None,
    y_mask=None,
    *,
    eps: float,
    cost: str = "cosine",
    reduction: str = "mean",
    **sinkhorn_options,
) -> torch.Tensor:
    r"""The OPTICAL transport loss :math:`\langle P, C\rangle_F` between two token sets.

    Builds the cost (``"cosine"`` or ``"sqeuclidean"``), solves entropic OT with
    :func:`optical.ot.sinkhorn` (extra keyword arguments go there: ``a``, ``b``, ``tau``,
    ``grad``, ...), and reduces the per-item cost with ``"mean"``, ``"sum"`` or ``"none"``.

    Examples
    --------
    >>> import torch
    >>> from optical.ot import transport_loss
    >>> teacher = torch.randn(4, 6, 16)
    >>> student = torch.randn(4, 9, 16, requires_grad=True)
    >>> loss = transport_loss(teacher, student, None, torch.tensor([9, 7, 5, 9]), eps=0.05)
    >>> loss.backward()
    >>> bool(student.grad[1, 7:].abs().sum() == 0)
    True
    """
    if cost not in COSTS:
        raise ValueError(f"cost must be one of {sorted(COSTS)}, got {cost!r}")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    matrix = COSTS[cost](x, y, x_mask, y_mask)
    per_item = sinkhorn(matrix, eps=eps, mask_a=x_mask, mask_b=y_mask, **sinkhorn_options).cost
    if reduction == "none":
        return per_item
    return per_item.mean() if reduction == "mean" else per_item.sum()
