"""Monolingual, cross-lingual and hybrid batches over multi-parallel training triplets.

Elmahdy et al. (arXiv 2408.10536) train one dual encoder on batches that are *monolingual*
(every query and passage of the batch in one language X) with probability ``alpha`` and
*cross-lingual* (each triplet's query in X, its passages in Y != X) otherwise. A training set
whose texts exist in one language only always yields monolingual batches.

The sampler is deterministic given its seed and resumable mid-epoch: its state is the number of
batches drawn and each set's epoch and position.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch

MODES = ("mono", "cross", "hybrid")


@dataclass
class TripletSet:
    """Training triplets ``(query_id, positive_id, negative_id)`` with their texts per language.

    ``queries[lang][id]`` and ``passages[lang][id]`` hold every language version; the languages
    of the set are those present in both tables.
    """

    name: str
    triplets: Sequence[tuple[str, str, str]]
    queries: Mapping[str, Mapping[str, str]]
    passages: Mapping[str, Mapping[str, str]]

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(sorted(set(self.queries) & set(self.passages)))

    def check(self, languages: Sequence[str] | None = None) -> None:
        """Raise ``ValueError`` on a missing language or an id that does not resolve."""
        if not self.triplets:
            raise ValueError(f"training set {self.name!r} has no triplets")
        wanted = tuple(languages) if languages else self.languages
        missing = [lang for lang in wanted if lang not in self.languages]
        if missing:
            raise ValueError(f"training set {self.name!r} lacks language(s) {missing}; it has {list(self.languages)}")
        for lang in wanted:
            for number, (qid, pos, neg) in enumerate(self.triplets, start=1):
                for table, key, what in ((self.queries, qid, "query"), (self.passages, pos, "positive"),
                                         (self.passages, neg, "negative")):
                    if key not in table[lang]:
                        raise ValueError(f"training set {self.name!r}, triplet {number}: {what} id {key!r} "
                                         f"has no {lang} text")


@dataclass
class Batch:
    """Texts of one batch and how it was composed."""

    kind: str  # "mono" or "cross"
    set_name: str
    queries: list[str]
    positives: list[str]
    negatives: list[str]
    query_langs: list[str]
    passage_langs: list[str]
    query_ids: list[str] = field(default_factory=list)


@dataclass
class _Cursor:
    epoch: int = 0
    position: int = 0
    order: list[int] = field(default_factory=list)


class HybridBatchSampler:
    """Draws :class:`Batch` es of ``batch_size`` triplets.

    Parameters
    ----------
    sets
        Training sets; each batch comes from one set, chosen with probability proportional to
        its number of triplets.
    mode
        ``"mono"``, ``"cross"`` or ``"hybrid"`` (monolingual with probability ``alpha``).
    languages
        Languages to train on (default: each set's own); every set with more than one language
        must have them all.
    """

    def __init__(
        self,
        sets: Sequence[TripletSet],
        batch_size: int,
        *,
        mode: str = "hybrid",
        alpha: float = 0.5,
        languages: Sequence[str] | None = None,
        seed: int = 0,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
        if batch_size <= 0:
            raise ValueError(f"batch_size must be > 0, got {batch_size}")
        if not sets:
            raise ValueError("no training sets")
        for training_set in sets:
            # A one-language set is checked in its own language: it only ever gives mono batches.
            training_set.check(languages if len(training_set.languages) > 1 else None)
        self.sets = list(sets)
        self.batch_size, self.mode, self.alpha, self.seed = batch_size, mode, alpha, seed
        self.languages = {s.name: (tuple(languages) if languages and len(s.languages) > 1 else s.languages)
                          for s in self.sets}
        self.drawn = 0
        self._cursors = [_Cursor() for _ in self.sets]
        for index in range(len(self.sets)):
            self._shuffle(index)

    def _shuffle(self, index: int) -> None:
        cursor = self._cursors[index]
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + index * 7_919 + cursor.epoch)
        cursor.order = torch.randperm(len(self.sets[index].triplets), generator=generator).tolist()

    def _take(self, index: int, count: int) -> list[tuple[str, str, str]]:
        cursor, triplets = self._cursors[index], self.sets[index].triplets
        taken = []
        while len(taken) < count:
            if cursor.position >= len(triplets):
                cursor.epoch += 1
                cursor.position = 0
                self._shuffle(index)
            taken.append(triplets[cursor.order[cursor.position]])
            cursor.position += 1
        return taken

    def next_batch(self) -> Batch:
        # One RNG per batch, seeded by its number: the sequence needs no RNG state to resume.
        rng = random.Random(self.seed * 1_000_003 + self.drawn)
        self.drawn += 1
        sizes = [len(s.triplets) for s in self.sets]
        index = rng.choices(range(len(self.sets)), weights=sizes)[0]
        training_set = self.sets[index]
        languages = self.languages[training_set.name]
        if len(languages) == 1 or self.mode == "mono":
            kind = "mono"
        elif self.mode == "cross":
            kind = "cross"
        else:
            kind = "mono" if rng.random() < self.alpha else "cross"
        triplets = self._take(index, self.batch_size)
        if kind == "mono":
            lang = rng.choice(languages)
            query_langs = passage_langs = [lang] * len(triplets)
        else:
            query_langs, passage_langs = [], []
            for _ in triplets:
                x, y = rng.sample(languages, 2)
                query_langs.append(x)
                passage_langs.append(y)
        return Batch(
            kind=kind,
            set_name=training_set.name,
            queries=[training_set.queries[x][q] for (q, _, _), x in zip(triplets, query_langs, strict=True)],
            positives=[training_set.passages[y][p] for (_, p, _), y in zip(triplets, passage_langs, strict=True)],
            negatives=[training_set.passages[y][n] for (_, _, n), y in zip(triplets, passage_langs, strict=True)],
            query_langs=list(query_langs),
            passage_langs=list(passage_langs),
            query_ids=[q for q, _, _ in triplets],
        )

    def state_dict(self) -> dict:
        return {"drawn": self.drawn, "cursors": [(c.epoch, c.position) for c in self._cursors],
                "sizes": [len(s.triplets) for s in self.sets], "seed": self.seed}

    def load_state_dict(self, state: dict) -> None:
        if state["sizes"] != [len(s.triplets) for s in self.sets] or state["seed"] != self.seed:
            raise ValueError("sampler state belongs to other training sets or another seed")
        self.drawn = state["drawn"]
        for index, (epoch, position) in enumerate(state["cursors"]):
            self._cursors[index].epoch, self._cursors[index].position = epoch, position
            self._shuffle(index)
