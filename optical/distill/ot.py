"""OPTICAL: token-level distillation through entropic optimal transport (Huang, Yu & Allan 2023)."""

from __future__ import annotations

import torch

from optical.models import TokenBatch
from optical.ot import TransportPlan, cosine_cost, sinkhorn

from .base import Objective, ObjectiveOutput


def center(batch: TokenBatch) -> torch.Tensor:
    """Token states minus their mean over the batch's real tokens.

    Contextual embeddings are anisotropic (all cosines near one), which flattens a cosine cost;
    centring restores its contrast. The mean is a constant of the batch (no gradient).
    """
    mask = batch.token_mask.unsqueeze(2).to(batch.embeddings.dtype)
    mean = (batch.embeddings * mask).sum((0, 1)) / mask.sum().clamp_min(1.0)
    return batch.embeddings - mean.detach()


def token_weights(batch: TokenBatch, idf: torch.Tensor | None) -> torch.Tensor | None:
    """Per-token weights summing to one per item: IDF of each real token, or None (uniform)."""
    if idf is None:
        return None
    weights = idf.to(batch.embeddings.device)[batch.input_ids] * batch.token_mask
    return weights / weights.sum(1, keepdim=True).clamp_min(torch.finfo(weights.dtype).tiny)


class OTObjective(Objective):
    r"""The OPTICAL loss :math:`\frac1B \sum_k \langle P_k, C_k\rangle_F`.

    For each bitext pair, :math:`C_k` is the cosine cost between the teacher's English token
    embeddings and the student's foreign token embeddings (special and padding tokens excluded),
    and :math:`P_k` the entropic transport plan between them: a soft token alignment learned
    from the data instead of fixed by position. Only the student side receives gradients.

    Parameters
    ----------
    eps, max_iter, tol, tau, grad
        Passed to :func:`optical.ot.sinkhorn`: regularisation, iteration budget, tolerance
        (``None``: fixed iterations), unbalanced strength, gradient mode (``envelope`` holds the
        plan fixed: the detached-plan variant; ``unrolled`` differentiates through it).
    centered : bool
        Subtract each side's mean token state over the batch before the cost (anisotropy).
    teacher_idf, student_idf : Tensor [vocab], optional
        IDF per token id; weights each side's tokens by IDF instead of uniformly.

    Reference: Z. Huang, P. Yu and J. Allan, "Improving Cross-lingual Information Retrieval on
    Low-Resource Languages via Optimal Transport Distillation", WSDM 2023, arXiv 2301.12566.

    Examples
    --------
    >>> from optical.models.tiny import tiny_encoder
    >>> encoder = tiny_encoder(["the", "house", "nyumba"])
    >>> objective = OTObjective(eps=0.05)
    >>> out = objective(encoder.encode_tokens(["the house"]), encoder.encode_tokens(["nyumba"]))
    >>> out.loss.backward()
    """

    def __init__(
        self,
        eps: float = 0.05,
        *,
        max_iter: int = 200,
        tol: float | None = 1e-3,
        tau: float | None = None,
        grad: str = "envelope",
        centered: bool = False,
        teacher_idf: torch.Tensor | None = None,
        student_idf: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        self.eps, self.max_iter, self.tol, self.tau, self.grad = eps, max_iter, tol, tau, grad
        self.centered = centered
        self.teacher_idf = teacher_idf
        self.student_idf = student_idf

    def solve(self, teacher: TokenBatch, student: TokenBatch) -> tuple[torch.Tensor, TransportPlan]:
        """The cost [B, n, m] and the transport plans the loss is made of (teacher side detached).

        :meth:`forward` averages ``plan.cost``; ``optical align`` shows one plan.
        """
        teacher_states = (center(teacher) if self.centered else teacher.embeddings).detach().float()
        student_states = (center(student) if self.centered else student.embeddings).float()
        cost = cosine_cost(teacher_states, student_states, teacher.token_mask, student.token_mask)
        plan = sinkhorn(
            cost,
            token_weights(teacher, self.teacher_idf),
            token_weights(student, self.student_idf),
            eps=self.eps,
            mask_a=teacher.token_mask,
            mask_b=student.token_mask,
            tau=self.tau,
            tol=self.tol,
            max_iter=self.max_iter,
            grad=self.grad,
        )
        return cost, plan

    def forward(self, teacher: TokenBatch, student: TokenBatch) -> ObjectiveOutput:
        _, result = self.solve(teacher, student)
        loss = result.cost.mean()
        logs = {
            "ot": float(loss.detach()),
            "ot_iterations": float(result.iterations),
            "ot_marginal_error": float(result.marginal_error.max()),
        }
        return ObjectiveOutput(loss, logs)
