"""OPTICAL: token-level distillation through entropic optimal transport (Huang, Yu & Allan 2023).

:class:`TransportOptions` is the one set of transport options that every command shares
(``optical distill``, ``optical align``, ``optical train-hybrid``); :meth:`OTObjective.from_options`
is the one mapping from them to the objective.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from optical.models import TokenBatch
from optical.ot import COSTS, GRAD_MODES, TransportPlan, sinkhorn

from .base import Objective, ObjectiveOutput, paired_teacher

MARGINALS = ("uniform", "idf", "importance")


@dataclass
class TransportOptions:
    """How token sets are compared by optimal transport; every field is also a ``--flag``."""

    eps: float = field(default=0.05, metadata={"help": "entropic regularisation (cost units)", "group": "transport"})
    ot_max_iter: int = field(default=200, metadata={"help": "Sinkhorn iterations at most", "group": "transport"})
    ot_tol: float | None = field(default=1e-3, metadata={
        "help": "marginal tolerance (none: fixed iterations)", "group": "transport"})
    tau: float | None = field(default=None, metadata={
        "help": "unbalanced strength: tokens without a counterpart may stay unmatched (none: balanced)",
        "group": "transport"})
    ot_grad: str = field(default="envelope", metadata={
        "help": "gradient of <P, C>: envelope (plan held fixed), implicit or unrolled",
        "choices": GRAD_MODES, "group": "transport"})
    ot_cost: str = field(default="cosine", metadata={
        "help": "token cost: cosine (1 - cos) or sqeuclidean", "choices": tuple(sorted(COSTS)), "group": "transport"})
    centered: bool = field(default=False, metadata={
        "help": "remove the batch's mean token state before the cost (anisotropy)", "group": "transport"})
    whiten: bool = field(default=False, metadata={
        "help": "whiten the token states before the cost (ZCA from the batch's teacher tokens; implies centring)",
        "group": "transport"})
    marginals: str = field(default="uniform", metadata={
        "help": "token weights: uniform, idf (over the training bitext) or importance (a token's leave-one-out "
                "effect on its sentence's mean vector)", "choices": MARGINALS, "group": "transport"})
    ot_layer: int | None = field(default=None, metadata={
        "help": "hidden layer whose token states the transport compares, e.g. 8 of 12 (none: the states the "
                "encoder pools); the other terms keep the pooled layer", "group": "transport"})

    @property
    def idf(self) -> bool:
        """Whether the marginals need IDF tables counted over the training bitext."""
        return self.marginals == "idf"

    def __post_init__(self) -> None:
        check_transport_options(self)


def check_transport_options(options: TransportOptions) -> None:
    """Raise ``ValueError`` naming the flag of the first bad option."""
    if not options.eps > 0:
        raise ValueError(f"--eps must be > 0, got {options.eps}")
    if options.ot_max_iter <= 0:
        raise ValueError(f"--ot-max-iter must be > 0, got {options.ot_max_iter}")
    if options.ot_tol is not None and not options.ot_tol > 0:
        raise ValueError(f"--ot-tol must be > 0 or none, got {options.ot_tol}")
    if options.tau is not None and not options.tau > 0:
        raise ValueError(f"--tau must be > 0 or none, got {options.tau}")
    if options.ot_grad not in GRAD_MODES:
        raise ValueError(f"--ot-grad must be one of {', '.join(GRAD_MODES)}, got {options.ot_grad!r}")
    if options.marginals not in MARGINALS:
        raise ValueError(f"--marginals must be one of {', '.join(MARGINALS)}, got {options.marginals!r}")
    if options.ot_cost not in COSTS:
        raise ValueError(f"--ot-cost must be one of {', '.join(sorted(COSTS))}, got {options.ot_cost!r}")


def center(batch: TokenBatch) -> torch.Tensor:
    """Token states minus their mean over the batch's real tokens.

    Contextual embeddings are anisotropic (all cosines near one), which flattens a cosine cost;
    centring restores its contrast. The mean is a constant of the batch (no gradient).
    """
    mask = batch.token_mask.unsqueeze(2).to(batch.embeddings.dtype)
    mean = (batch.embeddings * mask).sum((0, 1)) / mask.sum().clamp_min(1.0)
    return batch.embeddings - mean.detach()


def whitening(batch: TokenBatch, shrinkage: float = 0.1) -> tuple[torch.Tensor, torch.Tensor]:
    r"""The mean [d] and ZCA whitening matrix [d, d] of ``batch``'s real token states (no gradient).

    :math:`W = \Sigma_\lambda^{-1/2}` with :math:`\Sigma_\lambda = (1 - \lambda)\Sigma +
    \lambda \frac{\operatorname{tr}\Sigma}{d} I`: a batch holds a few hundred tokens of a
    few hundred dimensions, so the covariance is shrunk toward a multiple of the identity
    (Ledoit-Wolf style) to keep its inverse square root stable. Whitening goes further than
    centring against anisotropy: it also equalises the directions that dominate every cosine.
    """
    states = batch.embeddings.detach().double()[batch.token_mask]
    mean = states.mean(0)
    deviations = states - mean
    covariance = deviations.T @ deviations / max(1, len(states) - 1)
    dim = covariance.shape[0]
    covariance = (1 - shrinkage) * covariance + shrinkage * covariance.trace() / dim * torch.eye(
        dim, dtype=covariance.dtype, device=covariance.device)
    values, vectors = torch.linalg.eigh(covariance)
    transform = vectors @ torch.diag(values.clamp_min(1e-12).rsqrt()) @ vectors.T
    dtype = batch.embeddings.dtype
    return mean.to(dtype), transform.to(dtype)


def token_weights(batch: TokenBatch, marginals: str = "uniform", idf: torch.Tensor | None = None
                  ) -> torch.Tensor | None:
    r"""Per-token weights summing to one per item, or None (uniform).

    ``idf``: the IDF of each real token (``idf`` is the table by token id). ``importance``: a
    token's leave-one-out effect on its sentence's mean vector. Removing token :math:`i` of
    :math:`n` moves the mean :math:`\mu` by :math:`(x_i - \mu)/(n - 1)`, so the weight is
    :math:`\|x_i - \mu\|` (detached): tokens that make the sentence differ from its average carry
    more mass, function words that sit near it less.
    """
    if marginals == "uniform":
        return None
    mask = batch.token_mask
    if marginals == "idf":
        if idf is None:
            raise ValueError("marginals='idf' needs the IDF table")
        weights = idf.to(batch.embeddings.device)[batch.input_ids].float() * mask
    elif marginals == "importance":
        states = batch.embeddings.detach().float()
        real = mask.unsqueeze(2).float()
        mean = (states * real).sum(1, keepdim=True) / real.sum(1, keepdim=True).clamp_min(1.0)
        # The floor keeps a one-token sentence (no deviation) at full weight on its token.
        weights = ((states - mean).norm(dim=2) + 1e-6) * mask
    else:
        raise ValueError(f"unknown marginals {marginals!r}; use one of {', '.join(MARGINALS)}")
    return weights / weights.sum(1, keepdim=True).clamp_min(torch.finfo(weights.dtype).tiny)


def plan_sharpness(plan: torch.Tensor, mask: torch.Tensor) -> dict[str, float]:
    r"""How peaked the transport plans ``plan`` [B, n, m] are, over the real rows of ``mask`` [B, n].

    ``plan_entropy``: the mean entropy (nats) of each row of :math:`P` renormalised to sum to
    one, divided by :math:`\log m` (the entropy of a uniform row over the item's ``m`` real
    columns): 1 is a uniform (uninformative) alignment, 0 a one-to-one one. ``plan_argmax_mass``:
    the mean share of each row's mass on its largest entry.
    """
    p = plan.detach().float()
    rows = p.sum(2, keepdim=True)
    q = p / rows.clamp_min(torch.finfo(p.dtype).tiny)
    entropy = -(q * torch.log(q.clamp_min(1e-30))).sum(2)
    columns = (p.sum(1) > 0).sum(1).clamp_min(2).to(p.dtype)
    normalised = entropy / torch.log(columns).unsqueeze(1)
    real = mask & (rows.squeeze(2) > 0)
    count = real.sum().clamp_min(1)
    return {
        "plan_entropy": float((normalised * real).sum() / count),
        "plan_argmax_mass": float((q.max(2).values * real).sum() / count),
    }


class OTObjective(Objective):
    r"""The OPTICAL loss :math:`\frac1B \sum_k \langle P_k, C_k\rangle_F`.

    For each bitext pair, :math:`C_k` is the cost (1 - cosine, or squared distance) between the
    teacher's English token embeddings and the student's foreign token embeddings (special and
    padding tokens excluded), and :math:`P_k` the entropic transport plan between them: a soft
    token alignment learned from the data instead of fixed by position. Only the student side
    receives gradients.

    With the squared-distance cost and marginals equal to the pooling weights, the loss bounds
    the pooled vectors' squared distance from above (Jensen):
    :math:`\|\sum_i a_i x_i - \sum_j b_j y_j\|^2 = \|\sum_{ij} P_{ij}(x_i - y_j)\|^2 \le \langle P, C\rangle`.

    Parameters
    ----------
    eps, max_iter, tol, tau, grad
        Passed to :func:`optical.ot.sinkhorn`: regularisation, iteration budget, tolerance
        (``None``: fixed iterations), unbalanced strength, gradient mode (``envelope`` holds the
        plan fixed: the detached-plan variant; ``unrolled`` differentiates through it).
    cost : str
        ``"cosine"`` or ``"sqeuclidean"``.
    centered : bool
        Subtract each side's mean token state over the batch before the cost (anisotropy).
    whiten : bool
        Centre each side, then apply the ZCA whitening of the batch's teacher tokens
        (:func:`whitening`) to both: one map, so the two sides stay comparable.
    marginals : str
        ``"uniform"``, ``"idf"`` or ``"importance"``: each side's token weights
        (:func:`token_weights`).
    teacher_idf, student_idf : Tensor [vocab], optional
        IDF per token id, needed by ``marginals="idf"``.
    layer : int, optional
        Compare the token states of this hidden layer (``TokenBatch.at_layer``; the encoders must
        expose it: :meth:`~optical.models.Encoder.expose_layer`, which :meth:`expose` calls)
        instead of the encoders' output states. Middle layers of multilingual encoders align
        words best (Jalili Sabet et al., SimAlign, 2020), while the output layer of a retrieval
        model is shaped for pooling.
    warn : bool
        Let :func:`optical.ot.sinkhorn` warn (once per call site) when plans did not converge.

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

    name = "ot"

    def __init__(
        self,
        eps: float = 0.05,
        *,
        max_iter: int = 200,
        tol: float | None = 1e-3,
        tau: float | None = None,
        grad: str = "envelope",
        cost: str = "cosine",
        centered: bool = False,
        whiten: bool = False,
        marginals: str = "uniform",
        teacher_idf: torch.Tensor | None = None,
        student_idf: torch.Tensor | None = None,
        layer: int | None = None,
        warn: bool = True,
    ) -> None:
        super().__init__()
        self.warn, self.layer = warn, layer
        self.eps, self.max_iter, self.tol, self.tau, self.grad = eps, max_iter, tol, tau, grad
        if marginals not in MARGINALS:
            raise ValueError(f"marginals must be one of {', '.join(MARGINALS)}, got {marginals!r}")
        if marginals == "idf" and (teacher_idf is None or student_idf is None):
            raise ValueError("marginals='idf' needs teacher_idf and student_idf tables")
        self.cost, self.centered, self.whiten, self.marginals = cost, centered, whiten, marginals
        self.teacher_idf = teacher_idf
        self.student_idf = student_idf

    @classmethod
    def from_options(cls, options: TransportOptions, teacher_idf: torch.Tensor | None = None,
                     student_idf: torch.Tensor | None = None) -> OTObjective:
        """The objective that ``options`` describe (IDF tables only when ``options.idf``)."""
        return cls(options.eps, max_iter=options.ot_max_iter, tol=options.ot_tol, tau=options.tau,
                   grad=options.ot_grad, cost=options.ot_cost, centered=options.centered,
                   whiten=options.whiten, marginals=options.marginals,
                   teacher_idf=teacher_idf if options.idf else None, student_idf=student_idf if options.idf else None,
                   layer=options.ot_layer)

    def expose(self, *encoders) -> None:
        """Ask ``encoders`` for the hidden layer this objective compares (nothing when ``layer`` is None)."""
        for encoder in encoders:
            encoder.expose_layer(self.layer)

    def view(self, batch: TokenBatch) -> TokenBatch:
        """``batch`` with the states this objective compares as its embeddings."""
        return batch.at_layer(self.layer)

    def states(self, teacher: TokenBatch, student: TokenBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """The token states the cost compares (teacher side detached, float32)."""
        if self.whiten:
            _, transform = whitening(teacher)
            return (center(teacher) @ transform).detach().float(), (center(student) @ transform.to(
                student.embeddings.dtype)).float()
        teacher_states = (center(teacher) if self.centered else teacher.embeddings).detach().float()
        student_states = (center(student) if self.centered else student.embeddings).float()
        return teacher_states, student_states

    def solve(self, teacher: TokenBatch, student: TokenBatch) -> tuple[torch.Tensor, TransportPlan]:
        """The cost [B, n, m] and the transport plans the loss is made of (teacher side detached).

        :meth:`forward` averages ``plan.cost``; ``optical align`` shows one plan.
        """
        teacher, student = self.view(teacher), self.view(student)
        teacher_states, student_states = self.states(teacher, student)
        cost = COSTS[self.cost](teacher_states, student_states, teacher.token_mask, student.token_mask)
        plan = sinkhorn(
            cost,
            token_weights(teacher, self.marginals, self.teacher_idf),
            token_weights(student, self.marginals, self.student_idf),
            eps=self.eps,
            mask_a=teacher.token_mask,
            mask_b=student.token_mask,
            tau=self.tau,
            tol=self.tol,
            max_iter=self.max_iter,
            grad=self.grad,
            warn=self.warn,
        )
        return cost, plan

    def forward(self, teacher: TokenBatch, student: TokenBatch) -> ObjectiveOutput:
        teacher = paired_teacher(teacher, student)
        _, result = self.solve(teacher, student)
        loss = result.cost.mean()
        logs = {
            "ot": float(loss.detach()),
            "ot_iterations": float(result.iterations),
            "ot_marginal_error": float(result.marginal_error.max()),
            **plan_sharpness(result.plan, teacher.token_mask),
        }
        return ObjectiveOutput(loss, logs, shown=("ot",))
