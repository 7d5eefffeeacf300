"""Token-level MSE under a fixed alignment: the baseline that OPTICAL's learned plan replaces."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from optical.models import TokenBatch

from .base import Objective, ObjectiveOutput, paired_teacher

ALIGNMENTS = ("position", "argmax")


def _real_positions(mask: torch.Tensor) -> torch.Tensor:
    """For each row, the rank of each real token among the real tokens (-1 on padding)."""
    ranks = mask.long().cumsum(1) - 1
    return ranks.masked_fill(~mask, -1)


class TokenMSEObjective(Objective):
    r"""Mean squared error between student tokens and the teacher tokens a fixed rule pairs them with.

    ``alignment="position"`` pairs the i-th real student token with the i-th real teacher token
    (as far as both exist); ``"argmax"`` pairs each student token with its most cosine-similar
    teacher token, chosen without gradient. Either is a hard, fixed alignment, the baseline for
    the soft transport plan of :class:`~optical.distill.OTObjective`.

    Examples
    --------
    >>> from optical.models.tiny import tiny_encoder
    >>> encoder = tiny_encoder(["the", "house", "nyumba"])
    >>> out = TokenMSEObjective("argmax")(encoder.encode_tokens(["the house"]), encoder.encode_tokens(["nyumba"]))
    >>> out.loss.backward()
    """

    def __init__(self, alignment: str = "argmax") -> None:
        super().__init__()
        if alignment not in ALIGNMENTS:
            raise ValueError(f"alignment must be one of {ALIGNMENTS}, got {alignment!r}")
        self.alignment = alignment

    def forward(self, teacher: TokenBatch, student: TokenBatch) -> ObjectiveOutput:
        teacher = paired_teacher(teacher, student)
        targets = teacher.embeddings.detach()
        if self.alignment == "argmax":
            similarity = F.normalize(student.embeddings.detach(), dim=-1) @ F.normalize(targets, dim=-1).transpose(1, 2)
            similarity = similarity.masked_fill(~teacher.token_mask.unsqueeze(1), float("-inf"))
            partner = similarity.argmax(2)  # [B, Ls]
            paired = student.token_mask
        else:
            # Real teacher positions first, in order: column r holds the position of rank r.
            teacher_positions = torch.argsort((~teacher.token_mask).int(), dim=1, stable=True)
            rank = _real_positions(student.token_mask)
            count = teacher.token_mask.sum(1, keepdim=True)
            paired = (rank >= 0) & (rank < count)
            partner = torch.gather(teacher_positions, 1, rank.clamp(0, teacher_positions.shape[1] - 1))
        matched = torch.gather(targets, 1, partner.unsqueeze(2).expand(-1, -1, targets.shape[2]))
        errors = ((student.embeddings - matched) ** 2).mean(2)
        loss = (errors * paired).sum() / paired.sum().clamp_min(1)
        return ObjectiveOutput(loss, {"token_mse": float(loss.detach())}, shown=("token_mse",))
