"""The frozen teacher's token states, computed once per text and reused by every step."""

from __future__ import annotations

import torch

from optical.models import Encoder, TokenBatch


class TeacherCache:
    """Token states of a frozen teacher, kept per text (float32, in memory).

    The teacher never changes during distillation, so its encoding of an English sentence is
    the same at every epoch, for every objective and every seed: :meth:`tokens` encodes only
    the texts it has not seen (in one batch) and assembles a padded :class:`TokenBatch` from
    stored rows. An entry is keyed by the text and holds the states, masks and token ids of its
    real (attended) positions (and those of the exposed extra layer, when the teacher has one:
    :meth:`~optical.models.Encoder.expose_layer`); the cache belongs to one teacher, its
    ``max_length``, ``layer``, extra layer and query prefix (:attr:`key`), and refuses another.

    Padding does not change a real position's state beyond float rounding (the attention mask
    removes padded keys), so cached batches match batches encoded together to ~1e-6.

    Examples
    --------
    >>> from optical.models.tiny import tiny_encoder
    >>> teacher = tiny_encoder(["the", "house", "dog"])
    >>> cache = TeacherCache(teacher)
    >>> batch = cache.tokens(["the house", "the dog"])
    >>> again = cache.tokens(["the dog"])          # served from memory: no forward pass
    >>> cache.encoded, len(cache)
    (2, 2)
    """

    def __init__(self, teacher: Encoder, kind: str = "query") -> None:
        self.teacher, self.kind = teacher, kind
        self.key = self.key_of(teacher)
        self.entries: dict[str, tuple[torch.Tensor, ...]] = {}
        self.encoded = 0  # texts run through the teacher so far

    def __len__(self) -> int:
        return len(self.entries)

    def key_of(self, teacher: Encoder) -> tuple:
        """What a cached state depends on besides the text."""
        return (str(teacher.config.model), teacher.config.max_length, teacher.config.layer, teacher.extra_layer,
                teacher.config.query_prefix if self.kind == "query" else teacher.config.passage_prefix)

    def check(self, teacher: Encoder) -> None:
        """Refuse a teacher other than the one the cache was built for, or one now set up otherwise."""
        key = self.key_of(teacher)
        if key != self.key:
            raise ValueError(f"teacher cache built for (model, max length, layer, extra layer, prefix) {self.key}, "
                             f"not {key}")

    @torch.no_grad()
    def fill(self, texts: list[str], batch_size: int = 64) -> None:
        """Encode the texts not yet cached, in batches of similar length."""
        missing = list(dict.fromkeys(t for t in texts if t not in self.entries))
        if not missing:
            return
        missing.sort(key=len)
        with self.teacher.evaluating():
            for start in range(0, len(missing), batch_size):
                chunk = missing[start:start + batch_size]
                batch = self.teacher.encode_tokens(chunk, kind=self.kind)
                states = batch.embeddings.float().cpu()
                extra = None if batch.layer_states is None else batch.layer_states.float().cpu()
                for row, text in enumerate(chunk):
                    real = batch.attention_mask[row].cpu()
                    entry = (states[row][real], batch.token_mask[row].cpu()[real], batch.input_ids[row].cpu()[real])
                    self.entries[text] = entry if extra is None else (*entry, extra[row][real])
                self.encoded += len(chunk)

    def tokens(self, texts: list[str], device: torch.device | str = "cpu") -> TokenBatch:
        """The teacher's :class:`TokenBatch` for ``texts`` on ``device``, padded to the longest."""
        self.check(self.teacher)  # the teacher's extra layer may have changed since the cache was built
        self.fill(texts)
        rows = [self.entries[t] for t in texts]
        length = max(len(r[0]) for r in rows)
        dim = rows[0][0].shape[1]
        embeddings = torch.zeros(len(rows), length, dim)
        attention = torch.zeros(len(rows), length, dtype=torch.bool)
        token_mask = torch.zeros(len(rows), length, dtype=torch.bool)
        input_ids = torch.full((len(rows), length), self.teacher.tokenizer.pad_token_id or 0, dtype=torch.long)
        layer = self.teacher.extra_layer
        extra = None if layer is None else torch.zeros(len(rows), length, rows[0][3].shape[1])
        for i, (states, mask, ids, *more) in enumerate(rows):
            n = len(states)
            embeddings[i, :n], attention[i, :n], token_mask[i, :n], input_ids[i, :n] = states, True, mask, ids
            if extra is not None:
                extra[i, :n] = more[0]
        return TokenBatch(embeddings.to(device), attention.to(device), token_mask.to(device), input_ids.to(device),
                          layer_states=None if extra is None else extra.to(device), layer=layer)

    def pooled(self, texts: list[str]) -> torch.Tensor:
        """The teacher's pooled (unnormalised) vectors of ``texts``, from cached states."""
        self.fill(texts)
        vectors = []
        for start in range(0, len(texts), 256):
            batch = self.tokens(texts[start:start + 256])
            vectors.append(batch.pooled(self.teacher.config.pooling, normalize=False))
        return torch.cat(vectors)
