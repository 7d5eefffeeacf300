"""The result of a batched Sinkhorn solve."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class TransportPlan:
    r"""Entropic transport plans for a batch, with what is needed to judge and reuse them.

    Attributes
    ----------
    plan : Tensor [B, n, m]
        :math:`P = \mathrm{diag}(a)\,\exp((f \oplus g - C)/\varepsilon)\,\mathrm{diag}(b)`;
        exactly zero on padded rows and columns.
    cost : Tensor [B]
        The transport cost :math:`\langle P, C\rangle_F` per item. Its gradient depends on the
        mode the plan was solved with (see :func:`optical.ot.sinkhorn`).
    f, g : Tensor [B, n], [B, m]
        Dual potentials in cost units; ``-inf`` on padding. Pass ``(f, g)`` as ``init`` to warm
        start a later solve.
    value : Tensor [B]
        The entropic objective :math:`\langle P, C\rangle + \varepsilon\,\mathrm{KL}(P\,\|\,a\otimes b)`
        (plus :math:`\tau` times the marginal KL terms when unbalanced), detached.
    iterations : int
        Full Sinkhorn iterations run (both half-steps), over all epsilon stages, by the item
        that needed the most (each item stops on its own).
    marginal_error : Tensor [B]
        :math:`\|P\mathbf 1 - a^\star\|_1 + \|P^\top\mathbf 1 - b^\star\|_1`, measured on the
        returned plan, where :math:`a^\star, b^\star` are the marginals the fixed point demands
        (``a`` and ``b`` when balanced).
    converged : BoolTensor [B]
        ``marginal_error <= tol`` (the default tolerance when the solve ran a fixed number of
        iterations).
    eps : float
        The (final) regularisation: ``eps`` unless an item's budget ran out in an earlier epsilon
        stage (then the largest stage any item ended in).
    item_iterations : Tensor [B] of int64, optional
        Iterations per item.

    A 2-D problem (cost [n, m]) gives the same fields without the batch dimension.
    """

    plan: torch.Tensor
    cost: torch.Tensor
    f: torch.Tensor
    g: torch.Tensor
    value: torch.Tensor
    iterations: int
    marginal_error: torch.Tensor
    converged: torch.Tensor
    eps: float
    item_iterations: torch.Tensor | None = None

    @property
    def potentials(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(f, g)``, e.g. to warm-start the next solve."""
        return self.f, self.g
