r"""Implicit differentiation of the converged Sinkhorn plan.

At the fixed point the plan :math:`P_{ij} = a_i b_j e^{(f_i + g_j - C_{ij})/\varepsilon}` satisfies
:math:`P\mathbf 1 = r`, :math:`P^\top \mathbf 1 = c` with :math:`r = a` and :math:`c = b` when
balanced and :math:`r = a\,e^{-f/\tau}`, :math:`c = b\,e^{-g/\tau}` with KL-relaxed marginals.
Differentiating these conditions gives, with :math:`\kappa = 1 + \varepsilon/\tau`
(:math:`\kappa = 1` when balanced),

.. math::
    H \begin{pmatrix} df \\ dg \end{pmatrix}
    = \begin{pmatrix} (P \odot dC)\mathbf 1 \\ (P \odot dC)^\top \mathbf 1 \end{pmatrix},
    \qquad
    H = \begin{pmatrix} \kappa\,\mathrm{diag}(r) & P \\ P^\top & \kappa\,\mathrm{diag}(c) \end{pmatrix}.

For an upstream gradient :math:`G = \partial L / \partial P` the adjoint system
:math:`H (x; y) = ((P\odot G)\mathbf 1; (P \odot G)^\top \mathbf 1)/\varepsilon` yields

.. math::
    \frac{\partial L}{\partial C_{ij}} = P_{ij}\,\bigl(x_i + y_j - G_{ij}/\varepsilon\bigr).

It is solved through the Schur complement on the shorter side, a dense [B, k, k] system with
k = min(n, m): memory does not depend on the number of iterations. When balanced, :math:`H` is
singular along :math:`(\mathbf 1, -\mathbf 1)`; the right-hand side is orthogonal to it, so adding
:math:`\beta \mathbf 1 \mathbf 1^\top` to the complement gives the same gradient from a regular
system. At small epsilon the support of the plan splits into blocks, each with its own gauge;
a ridge at rounding level (and, should a solve still fail, a pseudo-inverse) handles those.
Padded rows and columns get a unit diagonal and a zero right-hand side, hence zero gradient.
"""

from __future__ import annotations

import torch


def _schur_solve(
    plan: torch.Tensor,
    h_short: torch.Tensor,
    h_long: torch.Tensor,
    d_short: torch.Tensor,
    d_long: torch.Tensor,
    mask_short: torch.Tensor,
    balanced: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Solve ``[[D_s, P], [P^T, D_l]] (x; y) = (h_s; h_l)`` with ``plan`` of shape [B, s, l]."""
    scaled = plan / d_long.unsqueeze(1)
    schur = torch.diag_embed(d_short) - torch.bmm(scaled, plan.transpose(1, 2))
    rhs = h_short - torch.bmm(scaled, h_long.unsqueeze(2)).squeeze(2)
    if balanced:
        real = mask_short.to(plan.dtype)
        count = real.sum(1, keepdim=True)
        beta = (1.0 / count**2).unsqueeze(2)
        schur = schur + beta * real.unsqueeze(2) * real.unsqueeze(1)
    # At small epsilon the plan's support falls apart into blocks, each with a gauge direction of
    # its own; the right-hand side has no component along them, so a ridge at rounding level
    # leaves the gradient unchanged while keeping the system regular.
    ridge = 10 * torch.finfo(plan.dtype).eps * torch.diagonal(schur, dim1=1, dim2=2).amax(1)
    schur = schur + torch.diag_embed(ridge.unsqueeze(1).expand_as(d_short))
    x, info = torch.linalg.solve_ex(schur, rhs.unsqueeze(2))
    failed = info != 0
    if bool(failed.any()):  # numerically singular all the same: minimum-norm solution for those items
        x[failed] = torch.linalg.pinv(schur[failed]) @ rhs[failed].unsqueeze(2)
    x = x.squeeze(2)
    y = (h_long - torch.bmm(plan.transpose(1, 2), x.unsqueeze(2)).squeeze(2)) / d_long
    return x, y


class ImplicitPlan(torch.autograd.Function):
    """Identity on a converged plan whose backward is the implicit-function gradient in the cost."""

    @staticmethod
    def forward(ctx, cost, plan, eps, tau, mask_a, mask_b):  # noqa: D102
        ctx.save_for_backward(plan, mask_a, mask_b)
        ctx.eps, ctx.tau = eps, tau
        return plan.view_as(plan)

    @staticmethod
    def backward(ctx, grad_plan):  # noqa: D102
        plan, mask_a, mask_b = ctx.saved_tensors
        tau = ctx.tau
        # eps: a float, or one per item (items whose budget ran out in different stages).
        eps = eps_3d = ctx.eps
        if not isinstance(eps, float):
            eps, eps_3d = eps.view(-1, 1), eps.view(-1, 1, 1)
        kappa = 1.0 if tau is None else 1.0 + eps / tau
        weighted = plan * grad_plan
        h_rows = weighted.sum(2) / eps
        h_cols = weighted.sum(1) / eps
        d_rows = torch.where(mask_a, kappa * plan.sum(2), torch.ones_like(h_rows))
        d_cols = torch.where(mask_b, kappa * plan.sum(1), torch.ones_like(h_cols))
        balanced = tau is None
        if plan.shape[1] <= plan.shape[2]:
            x, y = _schur_solve(plan, h_rows, h_cols, d_rows, d_cols, mask_a, balanced)
        else:
            y, x = _schur_solve(plan.transpose(1, 2), h_cols, h_rows, d_cols, d_rows, mask_b, balanced)
        grad_cost = plan * (x.unsqueeze(2) + y.unsqueeze(1)) - weighted / eps_3d
        return grad_cost, None, None, None, None, None
