"""``optical distill``: teacher frozen, student trained on bitext with any objective."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from optical.data.bitext import read_bitext_jsonl, read_bitext_tsv
from optical.data.records import BitextPair
from optical.models import Encoder
from optical.train import TrainConfig, train

from .base import Objective
from .combined import WeightedObjectives
from .mse import MSEObjective
from .nce import NCEObjective
from .ot import OTObjective
from .token_mse import TokenMSEObjective

log = logging.getLogger(__name__)

OBJECTIVES = ("ot", "mse", "token-mse", "nce")


@dataclass
class DistillConfig(TrainConfig):
    """Everything ``optical distill`` needs; every field is also a ``--flag``."""

    teacher: str = field(default="", metadata={"help": "teacher model: hub name or folder (frozen, English side)"})
    student: str = field(default="", metadata={"help": "student model to start from: hub name or folder"})
    bitext: str = field(default="", metadata={"help": "training bitext: .tsv (src<TAB>tgt) or .jsonl"})
    dev_bitext: str | None = field(default=None, metadata={"help": "held-out bitext for the periodic check"})
    src_lang: str = field(default="en", metadata={"help": "language of the bitext's src side (the teacher's)"})
    tgt_lang: str = field(default="sw", metadata={"help": "language of the tgt side (the student's)"})
    max_pairs: int | None = field(default=None, metadata={"help": "use the first N training pairs"})
    dev_pairs: int = field(default=500, metadata={"help": "dev pairs in the periodic check"})
    objective: str = field(default="ot", metadata={"help": "ot, mse, token-mse, nce or a sum like ot+mse"})
    ot_weight: float = field(default=1.0, metadata={"help": "weight of ot in a sum"})
    mse_weight: float = field(default=1.0, metadata={"help": "weight of mse in a sum"})
    nce_weight: float = field(default=1.0, metadata={"help": "weight of nce in a sum"})
    token_mse_weight: float = field(default=1.0, metadata={"help": "weight of token-mse in a sum"})
    eps: float = field(default=0.05, metadata={"help": "OT: entropic regularisation"})
    ot_max_iter: int = field(default=200, metadata={"help": "OT: Sinkhorn iterations at most"})
    ot_tol: float | None = field(default=1e-3, metadata={"help": "OT: marginal tolerance (none: fixed iterations)"})
    tau: float | None = field(default=None, metadata={"help": "OT: unbalanced strength (none: balanced)"})
    ot_grad: str = field(default="envelope", metadata={"help": "OT: envelope (detached plan), implicit, unrolled"})
    centered: bool = field(default=False, metadata={"help": "OT: centre token states before the cost"})
    idf: bool = field(default=False, metadata={"help": "OT: IDF token weights from the training bitext"})
    temperature: float = field(default=0.05, metadata={"help": "nce: softmax temperature"})
    token_alignment: str = field(default="argmax", metadata={"help": "token-mse: position or argmax"})
    pooling: str | None = field(default=None, metadata={"help": "mean or cls (none: the model folder's own)"})
    max_length: int = field(default=64, metadata={"help": "tokens per text"})
    layer: int = field(default=-1, metadata={"help": "hidden layer used for tokens (-1: last)"})
    projection: bool = field(default=False, metadata={"help": "linear head on the student to the teacher's width"})


def parse_objective(spec: str) -> list[str]:
    parts = [p.strip() for p in spec.split("+")]
    unknown = [p for p in parts if p not in OBJECTIVES]
    if unknown or not parts:
        raise ValueError(f"objective {spec!r}: unknown part(s) {unknown}; use {', '.join(OBJECTIVES)} joined by +")
    return parts


def idf_table(texts: list[str], encoder: Encoder) -> torch.Tensor:
    """Smoothed IDF per token id over ``texts``: log((N + 1) / (df + 1)) + 1."""
    frequencies = torch.zeros(len(encoder.tokenizer), dtype=torch.float64)
    for start in range(0, len(texts), 256):
        for ids in encoder.tokenizer(texts[start:start + 256], truncation=True,
                                     max_length=encoder.config.max_length)["input_ids"]:
            frequencies[torch.tensor(sorted(set(ids)))] += 1
    return (torch.log((len(texts) + 1) / (frequencies + 1)) + 1).float()


def build_objective(config: DistillConfig, teacher: Encoder, student: Encoder, pairs: list[BitextPair]) -> Objective:
    """The objective ``config.objective`` names, with its options and weights."""
    parts: dict[str, Objective] = {}
    for name in parse_objective(config.objective):
        if name == "ot":
            teacher_idf = idf_table([p.src for p in pairs], teacher) if config.idf else None
            student_idf = idf_table([p.tgt for p in pairs], student) if config.idf else None
            parts[name] = OTObjective(config.eps, max_iter=config.ot_max_iter, tol=config.ot_tol, tau=config.tau,
                                      grad=config.ot_grad, centered=config.centered, teacher_idf=teacher_idf,
                                      student_idf=student_idf)
        elif name == "mse":
            parts[name] = MSEObjective(student.config.pooling)
        elif name == "nce":
            parts[name] = NCEObjective(config.temperature, student.config.pooling)
        else:
            parts[name] = TokenMSEObjective(config.token_alignment)
    if len(parts) == 1:
        return next(iter(parts.values()))
    weights = {"ot": config.ot_weight, "mse": config.mse_weight, "nce": config.nce_weight,
               "token-mse": config.token_mse_weight}
    return WeightedObjectives(parts, {name: weights[name] for name in parts})


def read_pairs(path: str, src_lang: str, tgt_lang: str, limit: int | None = None) -> list[BitextPair]:
    """Bitext from a .tsv or .jsonl file; errors name the file and line."""
    reader = read_bitext_jsonl if str(path).endswith(".jsonl") else read_bitext_tsv
    pairs = []
    for pair in reader(path, src_lang, tgt_lang):
        pairs.append(pair)
        if limit is not None and len(pairs) >= limit:
            break
    if not pairs:
        raise ValueError(f"--bitext {path}: no pairs")
    return pairs


def load_encoders(config: DistillConfig) -> tuple[Encoder, Encoder]:
    overrides = {"max_length": config.max_length, "layer": config.layer}
    if config.pooling is not None:
        overrides["pooling"] = config.pooling
    teacher = Encoder.load(config.teacher, **overrides)
    student_overrides = dict(overrides)
    if config.projection:
        student_overrides["projection_dim"] = teacher.dim
    student = Encoder.load(config.student, **student_overrides)
    return teacher, student


def check_widths(teacher: Encoder, student: Encoder) -> None:
    if teacher.dim != student.dim:
        raise ValueError(
            f"teacher width {teacher.dim} differs from student width {student.dim}: pass --projection "
            "to train a linear head on the student"
        )


def bitext_check(teacher: Encoder, student: Encoder, pairs: list[BitextPair]) -> dict[str, float]:
    """Bitext retrieval on held-out pairs: P@1 of each foreign sentence among the English ones,
    the mean cosine of parallel pairs, and the mean pairwise cosine of the student's vectors (a
    collapse toward one direction raises it)."""
    english = teacher.encode([p.src for p in pairs], kind="query")
    foreign = student.encode([p.tgt for p in pairs], kind="query")
    english, foreign = F.normalize(english, dim=-1), F.normalize(foreign, dim=-1)
    similarity = foreign @ english.T
    top1 = float((similarity.argmax(1) == torch.arange(len(pairs))).float().mean())
    pairwise = foreign @ foreign.T
    off_diagonal = (pairwise.sum() - pairwise.diagonal().sum()) / max(1, len(pairs) * (len(pairs) - 1))
    return {"bitext_p@1": top1, "parallel_cosine": float(similarity.diagonal().mean()),
            "student_pairwise_cosine": float(off_diagonal)}


def make_step(teacher: Encoder, student: Encoder, objective: Objective, pairs: list[BitextPair]):
    """The micro-batch step the training loop calls: teacher without gradient, then the objective."""

    def step(student_module, indices: list[int]):
        batch = [pairs[i] for i in indices]
        device = next(student_module.parameters()).device
        if teacher.device != device:  # the teacher follows the student; it never enters DDP
            teacher.to(device)
        with torch.no_grad():
            teacher_tokens = teacher.encode_tokens([p.src for p in batch], kind="query")
        encoded, truncated = student.tokenize([p.tgt for p in batch], kind="query")
        student_tokens = student_module(encoded, truncated)
        output = objective(teacher_tokens, student_tokens)
        output.logs["tokens"] = float(student_tokens.token_mask.sum())
        output.logs["truncated"] = float(truncated)
        output.logs.setdefault("loss", float(output.loss.detach()))
        return output

    return step


def distill(config: DistillConfig, *, teacher: Encoder | None = None, student: Encoder | None = None):
    """Distil ``config.student`` from ``config.teacher`` on ``config.bitext``; returns the TrainResult.

    Pre-built ``teacher``/``student`` encoders (e.g. tiny test models) replace loading by name.
    """
    required = ["bitext"] + (["teacher"] if teacher is None else []) + (["student"] if student is None else [])
    for name in required:
        if not getattr(config, name):
            raise ValueError(f"--{name} is required")
    parse_objective(config.objective)
    pairs = read_pairs(config.bitext, config.src_lang, config.tgt_lang, config.max_pairs)
    dev = []
    if config.dev_bitext:
        dev = read_pairs(config.dev_bitext, config.src_lang, config.tgt_lang, config.dev_pairs)
    if teacher is None or student is None:
        loaded_teacher, loaded_student = load_encoders(config)
        teacher, student = teacher or loaded_teacher, student or loaded_student
    check_widths(teacher, student)
    teacher.requires_grad_(False)
    teacher.eval()
    objective = build_objective(config, teacher, student, pairs)
    step = make_step(teacher, student, objective, pairs)

    def evaluate() -> dict[str, float]:
        return bitext_check(teacher, student, dev) if dev else {}

    def save(path: Path) -> None:
        student.save(path)

    result = train(student, step, len(pairs), config, evaluate=evaluate if dev else None, save_model=save)
    truncated = sum(h.get("truncated", 0.0) for h in result.history)
    if truncated:
        log.info("%d training texts were truncated to %d tokens", int(truncated), config.max_length)
    return result
