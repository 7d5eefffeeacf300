"""``optical train-hybrid``: one shared dual encoder trained with InfoNCE on hybrid batches."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from optical.data.collection import read_documents_tsv, read_queries_tsv
from optical.data.mmarco import load_mmarco_triples, mmarco_collection_path, mmarco_queries_path
from optical.distill import ObjectiveOutput
from optical.models import Encoder
from optical.train import TrainConfig, train

from .loss import info_nce
from .sampler import MODES, Batch, HybridBatchSampler, TripletSet


@dataclass
class HybridConfig(TrainConfig):
    """Everything ``optical train-hybrid`` needs; every field is also a ``--flag``."""

    model: str = field(default="", metadata={"help": "the dual encoder to fine-tune: hub name or folder"})
    collection: str = field(default="", metadata={"help": "mMARCO-layout folder with training triples"})
    langs: tuple[str, ...] = field(default=(), metadata={"help": "languages to train on (default: all present)"})
    mode: str = field(default="hybrid", metadata={"help": "mono, cross or hybrid"})
    alpha: float = field(default=0.5, metadata={"help": "hybrid: probability of a monolingual batch"})
    temperature: float = field(default=0.05, metadata={"help": "InfoNCE temperature"})
    max_length: int = field(default=64, metadata={"help": "tokens per text"})
    max_triplets: int | None = field(default=None, metadata={"help": "use the first N training triplets"})

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"alpha must lie in [0, 1], got {self.alpha}")


def load_mmarco_triplet_set(root: str | Path, langs: tuple[str, ...] = (), limit: int | None = None) -> TripletSet:
    """The mMARCO-layout training triples with every language's train queries and passages."""
    from optical.data.languages import language_name

    root = Path(root)
    if not langs:
        langs = tuple(sorted(code for code in _codes_present(root)))
    if not langs:
        raise ValueError(f"--collection {root}: no <language>_collection.tsv files")
    queries, passages = {}, {}
    for lang in langs:
        try:
            queries_path = mmarco_queries_path(root, lang, "train")
            collection_path = mmarco_collection_path(root, lang)
        except FileNotFoundError as error:
            raise ValueError(f"--collection {root}: language {lang} ({language_name(lang)}): {error}") from None
        queries[lang] = {q.qid: q.text for q in read_queries_tsv(queries_path, lang)}
        passages[lang] = {d.docid: d.text for d in read_documents_tsv(collection_path, lang)}
    triplets = []
    for triple in load_mmarco_triples(root):
        triplets.append((triple.qid, triple.pos_docid, triple.neg_docid))
        if limit is not None and len(triplets) >= limit:
            break
    return TripletSet(root.name, triplets, queries, passages)


def _codes_present(root: Path) -> list[str]:
    from optical.data.languages import LANGUAGE_NAMES

    names = {name: code for code, name in LANGUAGE_NAMES.items()}
    return [names[p.name[: -len("_collection.tsv")]] for p in root.glob("*_collection.tsv")
            if p.name[: -len("_collection.tsv")] in names]


def make_step(encoder: Encoder, temperature: float):
    def step(module, batch: Batch):
        queries, _ = encoder.tokenize(batch.queries, kind="query")
        passages, _ = encoder.tokenize(batch.positives + batch.negatives, kind="passage")
        pooling, normalize = encoder.config.pooling, encoder.config.normalize
        q = module(queries).pooled(pooling, normalize)
        p = module(passages).pooled(pooling, normalize)
        half = len(batch.positives)
        loss = info_nce(q, p[:half], p[half:], temperature)
        return ObjectiveOutput(loss, {"nce": float(loss.detach()), "loss": float(loss.detach()),
                                      "mono": float(batch.kind == "mono")})

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
    # Each rank draws its own batch sequence (torchrun sets RANK).
    rank = int(os.environ.get("RANK", "0"))
    sampler = HybridBatchSampler(sets, config.batch_size, mode=config.mode, alpha=config.alpha,
                                 languages=config.langs or None, seed=config.seed + 1009 * rank)
    return train(encoder, make_step(encoder, config.temperature), sum(len(s.triplets) for s in sets), config,
                 sampler=sampler, save_model=encoder.save)
