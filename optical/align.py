"""``optical align``: the token alignment (transport plan) that OT distillation sees for one sentence pair.

The teacher encodes the source (English) sentence and the student the target (foreign) sentence,
as the distiller does (both as queries, so with the encoders' query prefix), and
:meth:`optical.distill.ot.OTObjective.solve` computes the same cosine cost, uniform weights
and Sinkhorn plan that the OPTICAL loss is made of. Only the tokens of the transport mask are
kept: special and padding tokens are not transported, so they are not shown; the query prefix
(e.g. ``query: ``) is transported, so it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from optical.distill.ot import OTObjective, TransportOptions
from optical.models import Encoder, TokenBatch

__all__ = ["AlignConfig", "Alignment", "align"]


@dataclass
class AlignConfig(TransportOptions):
    """Everything ``optical align`` needs; every field is also a ``--flag``.

    The transport options are :class:`~optical.distill.ot.TransportOptions`, as in ``optical distill``.
    """

    source: str = field(default="", metadata={"help": "source (English) sentence, read by the teacher"})
    target: str = field(default="", metadata={"help": "target (foreign) sentence, read by the student"})
    teacher: str = field(default="", metadata={"help": "teacher model: hub name or folder", "required": True})
    student: str = field(default="", metadata={"help": "student model: hub name or folder (empty: the teacher)"})
    max_length: int = field(default=128, metadata={"help": "tokens per text"})
    layer: int = field(default=-1, metadata={"help": "hidden layer used for tokens (-1: last)"})
    out: str = field(default="", metadata={"help": "write the plan's heat map to this PNG (needs matplotlib)"})
    top: int = field(default=1, metadata={"help": "target tokens listed per source token"})

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.source.strip() or not self.target.strip():
            raise ValueError("--source and --target must be non-empty sentences")
        if self.idf:
            raise ValueError("--marginals idf needs a training bitext to count documents; "
                             "optical align compares one pair")
        if self.top < 1:
            raise ValueError(f"--top must be >= 1, got {self.top}")


@dataclass
class Alignment:
    """One sentence pair's transport plan over the transported tokens.

    Attributes
    ----------
    plan : ndarray [n, m]
        Transport mass; rows are the source (teacher) tokens, columns the target (student) ones.
    source_tokens, target_tokens : list of str
        The tokenizer's wordpieces at the kept positions, in order.
    cost : float
        The transport loss :math:`\\langle P, C\\rangle_F` of this pair.
    iterations : int
        Sinkhorn iterations run.
    marginal_error : float
        L1 distance of the plan's marginals from the token weights.
    image : Path or None
        The heat map, when one was written.
    """

    plan: np.ndarray
    source_tokens: list[str]
    target_tokens: list[str]
    cost: float
    iterations: int
    marginal_error: float
    image: Path | None = None

    def pairs(self, top: int = 1) -> list[tuple[str, str, float]]:
        """``(source token, target token, mass)`` for the ``top`` heaviest targets of each source token."""
        from optical.plots import alignment_pairs

        return alignment_pairs(self.plan, self.source_tokens, self.target_tokens, top)

    def format(self, top: int = 1) -> str:
        """A text table of :meth:`pairs` (mass also as a share of the source token's row) and the cost."""
        rows = self.plan.sum(1)
        per_row = min(top, len(self.target_tokens))
        width_s = max(len("source"), *(len(t) for t in self.source_tokens))
        width_t = max(len("target"), *(len(t) for t in self.target_tokens))
        lines = [f"{'source':<{width_s}}  {'target':<{width_t}}  {'mass':>8}  {'of row':>6}"]
        for k, (source, target, mass) in enumerate(self.pairs(top)):
            shown = source if k % per_row == 0 else ""
            lines.append(f"{shown:<{width_s}}  {target:<{width_t}}  {mass:8.4f}  {mass / rows[k // per_row]:6.1%}")
        lines.append(f"transport cost <P, C> = {self.cost:.4f} ({len(self.source_tokens)} x "
                     f"{len(self.target_tokens)} tokens, {self.iterations} iterations, "
                     f"marginal error {self.marginal_error:.1e})")
        if self.image is not None:
            lines.append(f"heat map written to {self.image}")
        return "\n".join(lines)


def _kept_tokens(encoder: Encoder, batch: TokenBatch) -> tuple[torch.Tensor, list[str]]:
    keep = batch.token_mask[0].cpu()
    ids = batch.input_ids[0].cpu()[keep].tolist()
    return keep, list(encoder.tokenizer.convert_ids_to_tokens(ids))


def align(config: AlignConfig, *, teacher: Encoder | None = None, student: Encoder | None = None) -> Alignment:
    """The transport plan between ``config.source`` (teacher) and ``config.target`` (student).

    Pre-built ``teacher``/``student`` encoders (e.g. tiny test models) replace loading by name
    and keep their own ``max_length`` and ``layer``; without a student the teacher is both.
    Both run in evaluation mode (no dropout). With ``config.out`` the heat map is written there.

    Raises
    ------
    ValueError
        No teacher; teacher and student widths differ; ``out`` is set but matplotlib is missing
        (the message gives ``pip install 'optical[plots]'``).
    """
    from optical.distill.run import check_widths, load_encoders

    if teacher is None and not config.teacher:
        raise ValueError("--teacher is required")
    if config.out:
        from optical.plots import require_matplotlib

        try:
            require_matplotlib()
        except ImportError as error:
            raise ValueError(f"--out {config.out}: {error}") from error
    if teacher is None:
        teacher, loaded_student = load_encoders(config, share=True)
        student = student or loaded_student
    student = student or teacher
    check_widths(teacher, student)
    objective = OTObjective.from_options(config)
    objective.expose(teacher, student)
    modes = {module: module.training for module in (teacher, student)}
    try:
        for module in modes:
            module.eval()
        with torch.no_grad():
            source = teacher.encode_tokens([config.source], kind="query")
            target = student.encode_tokens([config.target], kind="query")
            keep_source, source_tokens = _kept_tokens(teacher, source)
            keep_target, target_tokens = _kept_tokens(student, target)
            if not source_tokens or not target_tokens:
                raise ValueError("--source and --target need at least one token each besides special tokens")
            _, result = objective.solve(source, target)
    finally:
        for module, training in modes.items():
            module.train(training)
    plan = result.plan[0].detach().cpu().double()[keep_source][:, keep_target].numpy()
    alignment = Alignment(plan, source_tokens, target_tokens, float(result.cost[0]), int(result.iterations),
                          float(result.marginal_error[0]))
    if config.out:
        from optical.plots import plot_alignment

        title = f"OT plan, eps={config.eps:g}, <P, C> = {alignment.cost:.4f}"
        alignment.image = plot_alignment(plan, source_tokens, target_tokens, config.out, title=title)
    return alignment
