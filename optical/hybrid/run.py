"""``optical train-hybrid``: one shared dual encoder trained with InfoNCE on hybrid batches."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path

import torch

from optical.data.mmarco import open_training
from optical.distill import Objective
from optical.distill.ot import OTObjective, TransportOptions
from optical.models import Encoder, TokenBatch
from optical.train import Distributed, StepOutput, TrainConfig, train

from .loss import info_nce
from .sampler import MODES, Batch, HybridBatchSampler, TripletSet


@dataclass
class HybridConfig(TrainConfig, TransportOptions):
    """Everything ``optical train-hybrid`` needs; every field is also a ``--flag``.

    The auxiliary OT term takes the transport options of :class:`TransportOptions` (``--eps``,
    ``--tau``, ...), the same flags as ``optical distill``.
    """

    model: str = field(default="", metadata={
        "help": "the dual encoder to fine-tune: hub name or folder", "required": True})
    collection: str = field(default="", metadata={
        "help": "mMARCO-layout folder with training triples", "required": True})
    langs: tuple[str, ...] = field(default=(), metadata={"help": "languages to train on (default: all present)"})
    mode: str = field(default="hybrid", metadata={"help": "batch composition", "choices": MODES})
    alpha: float = field(default=0.5, metadata={"help": "hybrid: probability of a monolingual batch"})
    temperature: float = field(default=0.05, metadata={"help": "InfoNCE temperature"})
    max_length: int = field(default=64, metadata={"help": "tokens per text"})
    max_triplets: int | None = field(default=None, metadata={"help": "use the first N training triplets"})
    ot_weight: float = field(default=0.0, metadata={
        "help": "weight of the auxiliary OT loss: the encoder's tokens of each non-pivot query against a frozen "
                "copy's tokens of its pivot-language version (0: off)"})
    pivot: str = field(default="en", metadata={"help": "language of the frozen side of the auxiliary OT loss"})

    def __post_init__(self) -> None:
        TrainConfig.__post_init__(self)
        TransportOptions.__post_init__(self)
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"alpha must lie in [0, 1], got {self.alpha}")
        if self.ot_weight < 0:
            raise ValueError(f"ot_weight must be >= 0, got {self.ot_weight}")


def load_mmarco_triplet_set(root: str | Path, langs: tuple[str, ...] = (), limit: int | None = None) -> TripletSet:
    """Training triples with every language's train queries and passages: an mMARCO-layout folder,
    or an ir_datasets spec ``irds:<id with {lang}>`` (:func:`optical.data.mmarco.open_training`)."""
    texts = open_training(root, langs, limit=limit)
    return TripletSet(texts.name, texts.triplets, texts.queries, texts.passages)


@dataclass
class AuxiliaryOT:
    """The distiller's OT loss as an auxiliary term on parallel queries.

    For the batch's queries not in ``pivot``, the transport cost between a frozen copy of the
    starting encoder on the query's ``pivot`` version (the teacher side) and the trained
    encoder's tokens of the query itself, weighted by ``weight``.
    """

    teacher: Encoder
    objective: Objective
    sets: dict[str, TripletSet]
    weight: float
    pivot: str = "en"

    def __call__(self, batch: Batch, query_tokens: TokenBatch) -> StepOutput | None:
        rows = [i for i, lang in enumerate(batch.query_langs) if lang != self.pivot]
        queries = self.sets[batch.set_name].queries
        if not rows or self.pivot not in queries:
            return None
        device = query_tokens.embeddings.device
        if self.teacher.device != device:
            self.teacher.to(device)
        with torch.no_grad():
            teacher_tokens = self.teacher.encode_tokens([queries[self.pivot][batch.query_ids[i]] for i in rows])
        return self.objective(teacher_tokens, query_tokens.select(rows))


def make_step(encoder: Encoder, temperature: float, auxiliary: AuxiliaryOT | None = None):
    def step(module, batch: Batch) -> StepOutput:
        queries, _ = encoder.tokenize(batch.queries, kind="query")
        passages, _ = encoder.tokenize(batch.positives + batch.negatives, kind="passage")
        pooling, normalize = encoder.config.pooling, encoder.config.normalize
        query_tokens = module(queries)
        q = query_tokens.pooled(pooling, normalize)
        p = module(passages).pooled(pooling, normalize)
        half = len(batch.positives)
        nce = info_nce(q, p[:half], p[half:], temperature)
        logs = {"nce": float(nce.detach()), "mono": float(batch.kind == "mono")}
        loss = nce
        ot = auxiliary(batch, query_tokens) if auxiliary is not None else None
        if ot is not None:
            loss = nce + auxiliary.weight * ot.loss
            logs.update(ot.logs)
        logs["loss"] = float(loss.detach())
        return StepOutput(loss, logs, shown=("loss", "nce", "ot") if ot is not None else ("nce",))

    return step


def train_hybrid(config: HybridConfig, *, encoder: Encoder | None = None, sets: list[TripletSet] | None = None):
    """Fine-tune ``config.model`` (or ``encoder``) on ``config.collection`` (or ``sets``)."""
    if encoder is None:
        if not config.model:
            raise ValueError("--model is required")
        encoder = Encoder.load(config.model, max_length=config.max_length)
    if sets is None:
        if not config.collection:
            raise ValueError("--collection is required")
        sets = [load_mmarco_triplet_set(config.collection, config.langs, config.max_triplets)]

    def sampler(dist: Distributed) -> HybridBatchSampler:
        # Each rank draws its own batch sequence.
        return HybridBatchSampler(sets, config.batch_size, mode=config.mode, alpha=config.alpha,
                                  languages=config.langs or None, seed=config.seed + 1009 * dist.rank)

    auxiliary = None
    if config.ot_weight > 0:
        # The frozen side is the starting model: OT keeps other languages' tokens near its pivot tokens.
        teacher = copy.deepcopy(encoder).eval().requires_grad_(False)
        transport = OTObjective.from_options(config)
        transport.expose(teacher, encoder)
        auxiliary = AuxiliaryOT(teacher, transport, {s.name: s for s in sets}, config.ot_weight, config.pivot)
    step = make_step(encoder, config.temperature, auxiliary)
    return train(encoder, step, sum(len(s.triplets) for s in sets), config,
                 sampler=sampler, save_model=encoder.save)
