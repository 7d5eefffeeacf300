"""``Encoder.encode`` (one tokenizer pass per batch) against the two-pass ``encode_tokens`` path."""

from __future__ import annotations

import pytest
import torch

from optical.models.tiny import tiny_encoder

WORDS = ["habari", "dunia", "paka", "mbwa", "hello", "world"]
TEXTS = ["habari dunia", "paka " * 30, "hello", "mbwa paka habari world " * 5, "x", "dunia dunia"]


@pytest.mark.parametrize("kind", ["query", "passage"])
def test_encode_equals_pooled_token_states_and_counts_truncation(kind) -> None:
    encoder = tiny_encoder(WORDS, dropout=0.0, max_length=16, query_prefix="q: ", passage_prefix="p: ").eval()
    with torch.inference_mode():
        reference = torch.cat([encoder.encode_tokens([t], kind).pooled("mean", True) for t in TEXTS])
    counted_by_two_passes = encoder.truncated_total
    assert counted_by_two_passes == 2
    vectors = encoder.encode(TEXTS, kind=kind, batch_size=4)
    assert torch.allclose(vectors, reference, atol=1e-6)
    assert encoder.truncated_total == 2 * counted_by_two_passes


def test_bf16_autocast_keeps_float32_vectors_close() -> None:
    encoder = tiny_encoder(WORDS, dropout=0.0)
    exact = encoder.encode(TEXTS)
    halved = encoder.encode(TEXTS, bf16=True)
    assert halved.dtype == torch.float32
    assert not torch.equal(halved, exact)  # the autocast really ran
    assert torch.nn.functional.cosine_similarity(halved, exact).min() > 0.99


def test_encode_rejects_an_unknown_kind() -> None:
    with pytest.raises(ValueError, match="kind must be"):
        tiny_encoder(WORDS).encode(["hello"], kind="document")


def test_encode_runs_without_dropout_and_leaves_the_modes_as_they_were() -> None:
    encoder = tiny_encoder(WORDS, dropout=0.5)
    encoder.train()
    first, second = encoder.encode(TEXTS), encoder.encode(TEXTS)
    assert torch.equal(first, second)  # dropout at 0.5 would make them differ
    assert all(module.training for module in encoder.modules())
    encoder.eval()
    assert torch.equal(encoder.encode(TEXTS), first)
    assert not any(module.training for module in encoder.modules())
    encoder.model.encoder.train()  # a mixed state: no dropout inside, then the top module's mode for all
    with encoder.evaluating():
        assert not any(module.training for module in encoder.modules())
    assert not any(module.training for module in encoder.modules())
