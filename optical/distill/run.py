"""``optical distill``: teacher frozen, student trained on bitext with any objective."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from optical.data.records import BitextPair
from optical.models import Encoder, TokenBatch
from optical.models.encoder import POOLINGS
from optical.train import LengthBucketSampler, StepOutput, TrainConfig, train
from optical.train.loop import EVAL_LOG

from .base import Objective
from .combined import SCHEDULES, WeightedObjectives
from .cosine import CosineObjective
from .mse import MSEObjective
from .nce import NCEObjective
from .ot import OTObjective, TransportOptions
from .teacher_cache import TeacherCache
from .token_mse import ALIGNMENTS, TokenMSEObjective
from .token_nce import TokenSetNCEObjective

log = logging.getLogger(__name__)

OBJECTIVES = ("ot", "mse", "cos", "token-mse", "nce", "ot-contrast", "maxsim-contrast")
TRANSPORT_PARTS = ("ot", "ot-contrast")


@dataclass
class DistillConfig(TrainConfig, TransportOptions):
    """Everything ``optical distill`` needs; every field is also a ``--flag``.

    The transport options (``eps``, ``tau``, ``ot_grad``, ...) are :class:`TransportOptions`'.
    """

    teacher: str = field(default="", metadata={
        "help": "teacher model: hub name or folder (frozen, English side)", "group": "model", "required": True})
    student: str = field(default="", metadata={
        "help": "student model to start from: hub name or folder", "group": "model", "required": True})
    bitext: str = field(default="", metadata={
        "help": "training bitext: .tsv (src<TAB>tgt), .jsonl or irds:<id with {lang}>", "group": "data",
        "required": True})
    dev_bitext: str | None = field(default=None, metadata={
        "help": "held-out bitext for the periodic check", "group": "data"})
    src_lang: str = field(default="en", metadata={
        "help": "language of the bitext's src side (the teacher's)", "group": "data"})
    tgt_lang: str = field(default="sw", metadata={"help": "language of the tgt side (the student's)", "group": "data"})
    max_pairs: int | None = field(default=None, metadata={"help": "use the first N training pairs", "group": "data"})
    dev_pairs: int = field(default=500, metadata={"help": "dev pairs in the periodic check", "group": "data"})
    # The default is the best objective on the dev split of benchmarks/results/ot_study.md.
    objective: str = field(default="cos+nce", metadata={
        "help": f"one of {', '.join(OBJECTIVES)}, or a sum such as ot+nce", "group": "objective"})
    ot_weight: float = field(default=1.0, metadata={"help": "weight of ot in a sum", "group": "objective"})
    mse_weight: float = field(default=1.0, metadata={"help": "weight of mse in a sum", "group": "objective"})
    cos_weight: float = field(default=1.0, metadata={"help": "weight of cos in a sum", "group": "objective"})
    nce_weight: float = field(default=1.0, metadata={"help": "weight of nce in a sum", "group": "objective"})
    token_mse_weight: float = field(default=1.0, metadata={
        "help": "weight of token-mse in a sum", "group": "objective"})
    ot_contrast_weight: float = field(default=1.0, metadata={
        "help": "weight of ot-contrast in a sum", "group": "objective"})
    maxsim_contrast_weight: float = field(default=1.0, metadata={
        "help": "weight of maxsim-contrast in a sum", "group": "objective"})
    ot_schedule: str = field(default="constant", metadata={
        "help": "schedule of the transport terms' weights over training", "choices": SCHEDULES,
        "group": "objective"})
    temperature: float = field(default=0.05, metadata={
        "help": "softmax temperature of the contrastive terms (nce, ot-contrast, maxsim-contrast)",
        "group": "objective"})
    hard_negatives: int = field(default=0, metadata={
        "help": "contrastive terms: append each pair's N nearest other English sentences (by the teacher) "
                "as extra negatives", "group": "objective"})
    token_alignment: str = field(default="argmax", metadata={
        "help": "token-mse: position or argmax", "group": "objective", "choices": ALIGNMENTS})
    pooling: str | None = field(default=None, metadata={
        "help": "mean or cls (none: the model folder's own)", "group": "model", "choices": POOLINGS})
    max_length: int = field(default=64, metadata={"help": "tokens per text", "group": "model"})
    layer: int = field(default=-1, metadata={"help": "hidden layer used for tokens (-1: last)", "group": "model"})
    projection: bool = field(default=False, metadata={
        "help": "linear head on the student to the teacher's width", "group": "model"})
    teacher_cache: bool = field(default=True, metadata={
        "help": "compute the frozen teacher's token states once per text and reuse them (in memory)",
        "group": "optimisation"})
    bucket_by_length: bool = field(default=True, metadata={
        "help": "batches of pairs of similar length (less padding), in shuffled order", "group": "optimisation"})

    def __post_init__(self) -> None:
        TrainConfig.__post_init__(self)
        TransportOptions.__post_init__(self)
        parse_objective(self.objective)
        if self.ot_schedule not in SCHEDULES:
            raise ValueError(f"--ot-schedule must be one of {', '.join(SCHEDULES)}, got {self.ot_schedule!r}")
        if not self.temperature > 0:
            raise ValueError(f"--temperature must be > 0, got {self.temperature}")
        if self.hard_negatives < 0:
            raise ValueError(f"--hard-negatives must be >= 0, got {self.hard_negatives}")
        if self.max_length < 2:
            raise ValueError(f"--max-length must be >= 2, got {self.max_length}")
        if self.max_pairs is not None and self.max_pairs <= 0:
            raise ValueError(f"--max-pairs must be > 0, got {self.max_pairs}")


def parse_objective(spec: str) -> list[str]:
    parts = [p.strip() for p in spec.split("+")]
    unknown = [p for p in parts if p not in OBJECTIVES]
    if unknown or not parts:
        raise ValueError(f"--objective {spec!r}: unknown part(s) {unknown}; use {', '.join(OBJECTIVES)} joined by +")
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
    """The objective ``config.objective`` names, with its options, weights and schedule."""
    names = parse_objective(config.objective)
    transport = None
    if any(name in TRANSPORT_PARTS for name in names):
        teacher_idf = idf_table([p.src for p in pairs], teacher) if config.idf else None
        student_idf = idf_table([p.tgt for p in pairs], student) if config.idf else None
        transport = OTObjective.from_options(config, teacher_idf, student_idf)
    parts: dict[str, Objective] = {}
    for name in names:
        if name == "ot":
            parts[name] = transport
        elif name == "mse":
            parts[name] = MSEObjective(student.config.pooling)
        elif name == "cos":
            parts[name] = CosineObjective(student.config.pooling)
        elif name == "nce":
            parts[name] = NCEObjective(config.temperature, student.config.pooling)
        elif name == "ot-contrast":
            parts[name] = TokenSetNCEObjective(transport, similarity="ot", temperature=config.temperature)
        elif name == "maxsim-contrast":
            parts[name] = TokenSetNCEObjective(OTObjective.from_options(config), similarity="maxsim",
                                               temperature=config.temperature)
        else:
            parts[name] = TokenMSEObjective(config.token_alignment)
    if len(parts) == 1 and config.ot_schedule == "constant":
        return next(iter(parts.values()))
    weights = {"ot": config.ot_weight, "mse": config.mse_weight, "cos": config.cos_weight, "nce": config.nce_weight,
               "token-mse": config.token_mse_weight, "ot-contrast": config.ot_contrast_weight,
               "maxsim-contrast": config.maxsim_contrast_weight}
    schedules = {name: config.ot_schedule for name in parts if name in TRANSPORT_PARTS}
    return WeightedObjectives(parts, {name: weights[name] for name in parts}, schedules)


def read_pairs(path: str, src_lang: str, tgt_lang: str, limit: int | None = None) -> list[BitextPair]:
    """Bitext from a .tsv or .jsonl file or an ``irds:`` id (:func:`optical.data.open_bitext`);
    errors name the file and line."""
    from optical.data import open_bitext

    pairs = []
    for pair in open_bitext(path, src_lang, tgt_lang):
        pairs.append(pair)
        if limit is not None and len(pairs) >= limit:
            break
    if not pairs:
        raise ValueError(f"--bitext {path}: no pairs")
    return pairs


def load_encoders(config, *, share: bool = False) -> tuple[Encoder, Encoder]:
    """The teacher and the student that ``config`` names, read the same way (max length, layer,
    pooling when the config has one), with a projection head on the student when
    ``config.projection``. With ``share`` (nothing is trained: ``optical align``) one encoder
    serves both when no student is named or the same one is; otherwise the student is always a
    separate copy, since training it must not move the frozen teacher.

    Any config with ``teacher``, ``student``, ``max_length`` and ``layer`` fields will do
    (``optical distill``'s and ``optical align``'s).
    """
    overrides = {"max_length": config.max_length, "layer": config.layer}
    if getattr(config, "pooling", None) is not None:
        overrides["pooling"] = config.pooling
    teacher = Encoder.load(config.teacher, **overrides)
    projection = getattr(config, "projection", False)
    if share and not projection and (not config.student or config.student == config.teacher):
        return teacher, teacher
    student_overrides = dict(overrides)
    if projection:
        student_overrides["projection_dim"] = teacher.dim
    student = Encoder.load(config.student or config.teacher, **student_overrides)
    return teacher, student


def check_widths(teacher: Encoder, student: Encoder) -> None:
    if teacher.dim != student.dim:
        raise ValueError(
            f"teacher width {teacher.dim} differs from student width {student.dim}: pass --projection "
            "to train a linear head on the student"
        )


def expose_transport_layer(config: DistillConfig, teacher: Encoder, student: Encoder) -> None:
    """Have both encoders return the hidden layer ``--ot-layer`` when a transport term compares it
    (and no extra layer otherwise); errors name the flag."""
    names = parse_objective(config.objective)
    layer = config.ot_layer if any(n in TRANSPORT_PARTS or n == "maxsim-contrast" for n in names) else None
    if layer is not None:
        widths = {e.model.config.hidden_size for e in (teacher, student)}
        if len(widths) > 1:
            raise ValueError(f"--ot-layer {layer}: the teacher's and the student's hidden states differ in width "
                             f"{sorted(widths)} (a projection head applies to the output layer only)")
    for encoder in (teacher, student):
        try:
            encoder.expose_layer(layer)
        except ValueError as error:
            raise ValueError(f"--ot-layer: {error}") from error


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


def mine_bitext_negatives(cache: TeacherCache, pairs: list[BitextPair], count: int) -> list[list[int]]:
    """For each pair, the ``count`` other pairs whose English side is nearest by the teacher's
    pooled vector (texts identical to the pair's own English side excluded)."""
    vectors = F.normalize(cache.pooled([p.src for p in pairs]), dim=-1)
    similarity = vectors @ vectors.T
    texts = [p.src for p in pairs]
    same = torch.tensor([[a == b for b in texts] for a in texts]) if len(texts) <= 4096 else None
    if same is not None:
        similarity.masked_fill_(same, float("-inf"))
    else:
        similarity.fill_diagonal_(float("-inf"))
    return similarity.topk(min(count, len(pairs) - 1), dim=1).indices.tolist()


def make_step(teacher: Encoder, student: Encoder, objective: Objective, pairs: list[BitextPair], *,
              cache: TeacherCache | None = None, negatives: list[list[int]] | None = None,
              progress: dict | None = None, total_steps: int | None = None, grad_accum: int = 1):
    """The micro-batch step the training loop calls: teacher without gradient, then the objective.

    ``cache`` serves the teacher's token states (computed once per text); ``negatives`` lists
    mined hard-negative pairs per pair, whose English sides are appended to the teacher's batch;
    with ``total_steps`` the step tells a scheduled objective how far training has come, counting
    micro-batches in ``progress["micro_batches"]`` (a dict the loop checkpoints).
    """
    progress = progress if progress is not None else {"micro_batches": 0}

    def teacher_tokens(texts: list[str], device: torch.device) -> TokenBatch:
        if cache is not None:
            return cache.tokens(texts, device)
        with torch.no_grad():
            return teacher.encode_tokens(texts, kind="query")

    def step(student_module, indices: list[int]) -> StepOutput:
        batch = [pairs[i] for i in indices]
        device = next(student_module.parameters()).device
        if teacher.device != device:  # the teacher follows the student; it never enters DDP
            teacher.to(device)
        if total_steps and hasattr(objective, "set_progress"):
            objective.set_progress(min(1.0, progress["micro_batches"] / grad_accum / total_steps))
        progress["micro_batches"] += 1
        english = [p.src for p in batch]
        if negatives is not None:
            chosen = set(indices)
            extra = [j for i in indices for j in negatives[i] if j not in chosen]
            english += [pairs[j].src for j in dict.fromkeys(extra)]
        teacher_batch = teacher_tokens(english, device)
        encoded, truncated = student.tokenize([p.tgt for p in batch], kind="query")
        student_tokens = student_module(encoded, truncated)
        output = objective(teacher_batch, student_tokens)
        output.logs["tokens"] = float(student_tokens.token_mask.sum())
        output.logs["padding"] = float(1.0 - student_tokens.attention_mask.float().mean())
        output.logs["truncated"] = float(truncated)
        output.logs.setdefault("loss", float(output.loss.detach()))
        return output

    return step


def distill(config: DistillConfig, *, teacher: Encoder | None = None, student: Encoder | None = None,
            teacher_cache: TeacherCache | None = None,
            extra_evaluation: Callable[[Encoder], dict[str, float]] | None = None):
    """Distil ``config.student`` from ``config.teacher`` on ``config.bitext``; returns the TrainResult.

    Pre-built ``teacher``/``student`` encoders (e.g. tiny test models) replace loading by name;
    a ``teacher_cache`` built for the same teacher may be shared between runs (e.g. the variants
    of a study); ``extra_evaluation(student)`` adds numbers (e.g. dev MAP) to every evaluation.
    """
    required = ["bitext"] + (["teacher"] if teacher is None else []) + (["student"] if student is None else [])
    for name in required:
        if not getattr(config, name):
            raise ValueError(f"--{name} is required")
    pairs = read_pairs(config.bitext, config.src_lang, config.tgt_lang, config.max_pairs)
    dev = []
    if config.dev_bitext:
        dev = read_pairs(config.dev_bitext, config.src_lang, config.tgt_lang, config.dev_pairs)
    if teacher is None or student is None:
        loaded_teacher, loaded_student = load_encoders(config)
        teacher, student = teacher or loaded_teacher, student or loaded_student
    check_widths(teacher, student)
    expose_transport_layer(config, teacher, student)
    teacher.requires_grad_(False)
    teacher.eval()
    progress: dict = {"micro_batches": 0}  # checkpointed, so a schedule resumes where it was
    if teacher_cache is None and (config.teacher_cache or config.hard_negatives):
        # A cache of this run's own travels in its checkpoints: a resumed run reads the very
        # teacher states the interrupted one used, so it continues bit for bit.
        teacher_cache = TeacherCache(teacher)
        progress["teacher_cache"] = teacher_cache.entries
    elif teacher_cache is not None:
        teacher_cache.check(teacher)
    objective = build_objective(config, teacher, student, pairs)
    negatives = mine_bitext_negatives(teacher_cache, pairs, config.hard_negatives) if config.hard_negatives else None
    step = make_step(teacher, student, objective, pairs, cache=teacher_cache if config.teacher_cache else None,
                     negatives=negatives, progress=progress, total_steps=config.steps, grad_accum=config.grad_accum)
    sampler = None
    if config.bucket_by_length:
        lengths = [len(p.tgt) for p in pairs]  # characters: a free proxy for the student's tokens

        def sampler(dist):
            return LengthBucketSampler(lengths, config.batch_size, seed=config.seed, rank=dist.rank,
                                       world_size=dist.world_size)

    def evaluate() -> dict[str, float]:
        numbers = bitext_check(teacher, student, dev) if dev else {}
        if extra_evaluation is not None:
            numbers.update(extra_evaluation(student))
        return numbers

    def save(path: Path) -> None:
        from optical.models.card import ModelCardInfo, read_evaluations, write_model_card

        student.save(path)
        # after the save: Encoder.save replaces the folder; eval.jsonl already holds the last check
        write_model_card(path, ModelCardInfo.from_config(
            config, bitext_pairs=len(pairs), evaluations=read_evaluations(Path(config.out) / EVAL_LOG),
            base_model=config.student or student.config.model, teacher=config.teacher or teacher.config.model))

    has_evaluation = bool(dev) or extra_evaluation is not None
    result = train(student, step, len(pairs), config, evaluate=evaluate if has_evaluation else None,
                   save_model=save, sampler=sampler, extra_state=progress)
    truncated = sum(h.get("truncated", 0.0) for h in result.history)
    if truncated:
        log.info("%d training texts were truncated to %d tokens", int(truncated), config.max_length)
    write_training_figure(Path(config.out), result.history, result.evaluations)
    return result


def write_training_figure(out: Path, history: list[dict], evaluations: list[dict]) -> Path | None:
    """``out/training.png`` (loss terms and dev checks per step) when matplotlib is installed."""
    try:
        from optical.plots import plot_training_curves, require_matplotlib

        require_matplotlib()
    except ImportError:
        return None
    return plot_training_curves(history, evaluations, out / "training.png", title=out.name)
