"""Batched entropic optimal transport for ragged token sets.

The numerical code lives in small private modules; this package re-exports the public API:

- :func:`sinkhorn` solves a batch (or one 2-D problem) and returns a :class:`TransportPlan`; each
  item stops on its own, and items that end above ``tol`` raise a :class:`ConvergenceWarning`;
- :func:`cosine_cost`, :func:`sqeuclidean_cost` build costs between padded token batches;
- :func:`transport_loss` is the OPTICAL loss :math:`\\langle P, C\\rangle_F` in one call.
"""

from __future__ import annotations

from ._costs import COSTS, cosine_cost, sqeuclidean_cost, transport_loss
from ._problem import lengths_to_mask
from ._result import TransportPlan
from ._sinkhorn import DEFAULT_TOL, GRAD_MODES, METHODS, ConvergenceWarning, epsilon_schedule, sinkhorn

__all__ = [
    "COSTS",
    "ConvergenceWarning",
    "DEFAULT_TOL",
    "GRAD_MODES",
    "METHODS",
    "TransportPlan",
    "cosine_cost",
    "epsilon_schedule",
    "lengths_to_mask",
    "sinkhorn",
    "sqeuclidean_cost",
    "transport_loss",
]
