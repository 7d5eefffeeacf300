"""Contrastive distillation between token sets: transport cost (or MaxSim) as the similarity."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from optical.models import TokenBatch
from optical.ot import COSTS, sinkhorn

from .base import Objective, ObjectiveOutput
from .ot import OTObjective, plan_sharpness, token_weights

SIMILARITIES = ("ot", "maxsim")


def _all_pairs(batch: TokenBatch, rows: int, repeat_each: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Token states and masks laid out for every (student i, candidate j) pair, flattened to i * C + j."""
    states, mask = batch.embeddings, batch.token_mask
    if repeat_each:  # student side: row i for every candidate
        return states.repeat_interleave(rows, 0), mask.repeat_interleave(rows, 0)
    return states.repeat(rows, 1, 1), mask.repeat(rows, 1)  # candidate side: all candidates per student


class TokenSetNCEObjective(Objective):
    r"""InfoNCE whose similarity is between *token sets*, not pooled vectors.

    For student sentence :math:`i` (foreign tokens :math:`Y_i`) and every English sentence
    :math:`j` of the batch (teacher tokens :math:`X_j`, plus any appended hard negatives):

    - ``similarity="ot"``: :math:`s_{ij} = -\langle P_{ij}, C_{ij}\rangle_F`, the entropic transport
      cost between the two token sets (all :math:`B \times C` problems in one batched solve);
    - ``similarity="maxsim"``: :math:`s_{ij} = \frac1{|Y_i|}\sum_{y\in Y_i}\max_{x\in X_j}\cos(x, y)`,
      late interaction (ColBERT), i.e. transport where each student token may send all its mass
      to its nearest teacher token;

    and :math:`\mathcal L = -\frac1B\sum_i \log\frac{e^{s_{ii}/T}}{\sum_j e^{s_{ij}/T}}`. The
    student must make transport to its own translation cheaper than to every other sentence,
    which the plain transport loss cannot: it has no negatives, so collapsing all tokens onto a
    common direction lowers it. Transport options (eps, tau, marginals, centring, gradient
    mode) come from ``transport``.

    Examples
    --------
    >>> from optical.models.tiny import tiny_encoder
    >>> encoder = tiny_encoder(["the", "house", "dog", "nyumba", "mbwa"])
    >>> objective = TokenSetNCEObjective(OTObjective(eps=0.1), temperature=0.1)
    >>> teacher = encoder.encode_tokens(["the house", "the dog"])
    >>> out = objective(teacher, encoder.encode_tokens(["nyumba", "mbwa"]))
    >>> out.loss.backward()
    >>> sorted(k for k in out.logs if k.startswith("ot_nce"))
    ['ot_nce', 'ot_nce_accuracy']
    """

    def __init__(self, transport: OTObjective | None = None, *, similarity: str = "ot",
                 temperature: float = 0.05) -> None:
        super().__init__()
        if similarity not in SIMILARITIES:
            raise ValueError(f"similarity must be one of {SIMILARITIES}, got {similarity!r}")
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.transport = transport if transport is not None else OTObjective()
        self.similarity, self.temperature = similarity, temperature
        self.name = "ot_nce" if similarity == "ot" else "maxsim_nce"

    def similarities(self, teacher: TokenBatch, student: TokenBatch) -> tuple[torch.Tensor, dict[str, float]]:
        """``[B, C]`` similarities of every student sentence to every teacher sentence, and diagnostics."""
        rows, candidates = student.embeddings.shape[0], teacher.embeddings.shape[0]
        teacher, student = self.transport.view(teacher), self.transport.view(student)
        teacher_states, student_states = self.transport.states(teacher, student)
        if self.similarity == "maxsim":
            x = F.normalize(teacher_states, dim=-1)
            y = F.normalize(student_states, dim=-1)
            cosine = torch.einsum("cnd,bmd->bcmn", x, y)
            cosine = cosine.masked_fill(~teacher.token_mask[None, :, None, :], float("-inf"))
            best = cosine.max(3).values.masked_fill(~student.token_mask[:, None, :], 0.0)
            return best.sum(2) / student.token_mask.sum(1, keepdim=True).clamp_min(1), {}
        x, x_mask = _all_pairs(TokenBatch(teacher_states, teacher.attention_mask, teacher.token_mask,
                                          teacher.input_ids), rows, repeat_each=False)
        y, y_mask = _all_pairs(TokenBatch(student_states, student.attention_mask, student.token_mask,
                                          student.input_ids), candidates, repeat_each=True)
        cost = COSTS[self.transport.cost](x, y, x_mask, y_mask)
        a = token_weights(teacher, self.transport.marginals, self.transport.teacher_idf)
        b = token_weights(student, self.transport.marginals, self.transport.student_idf)
        plan = sinkhorn(
            cost,
            None if a is None else a.repeat(rows, 1),
            None if b is None else b.repeat_interleave(candidates, 0),
            eps=self.transport.eps, mask_a=x_mask, mask_b=y_mask, tau=self.transport.tau,
            tol=self.transport.tol, max_iter=self.transport.max_iter, grad=self.transport.grad,
            warn=self.transport.warn,
        )
        positives = torch.arange(rows, device=cost.device) * candidates + torch.arange(rows, device=cost.device)
        logs = {"ot_iterations": float(plan.iterations), "ot_marginal_error": float(plan.marginal_error.max())}
        logs.update(plan_sharpness(plan.plan[positives], x_mask[positives]))
        return -plan.cost.view(rows, candidates), logs

    def forward(self, teacher: TokenBatch, student: TokenBatch) -> ObjectiveOutput:
        similarity, logs = self.similarities(teacher, student)
        logits = similarity / self.temperature
        labels = torch.arange(len(logits), device=logits.device)
        loss = F.cross_entropy(logits, labels)
        accuracy = float((logits.detach().argmax(1) == labels).float().mean())
        logs.update({self.name: float(loss.detach()), f"{self.name}_accuracy": accuracy})
        if self.similarity == "ot":
            logs["ot"] = float(-similarity.detach().diagonal().mean())  # the paired transport cost, as `ot` logs it
        return ObjectiveOutput(loss, logs, shown=(self.name,))

