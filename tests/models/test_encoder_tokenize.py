"""``Encoder.tokenize`` counts truncated texts from the one tokenizer pass it makes."""

from __future__ import annotations

from optical.models.tiny import tiny_encoder


def test_tokenize_runs_the_tokenizer_once_and_counts_truncation():
    encoder = tiny_encoder(["cat", "dog", "sat"])
    encoder.config.max_length = 6
    calls = []
    tokenizer = encoder.tokenizer
    original = type(tokenizer).__call__

    def counting(self, *args, **kwargs):
        calls.append(kwargs.get("truncation"))
        return original(self, *args, **kwargs)

    type(tokenizer).__call__ = counting
    try:
        texts = ["cat", "cat dog sat cat dog sat cat", "dog sat", "sat " * 10]
        batch, truncated = encoder.tokenize(texts)
    finally:
        type(tokenizer).__call__ = original
    assert calls == [True]
    # The independent count: each text's full length with special tokens, against max_length.
    full = [len(tokenizer(encoder.config.query_prefix + t)["input_ids"]) for t in texts]
    assert truncated == sum(n > 6 for n in full) == 2
    assert batch["input_ids"].shape[1] == 6
