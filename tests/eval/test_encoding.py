"""The encoded-text cache: a hit returns the stored vectors, any change of input is a miss."""

from __future__ import annotations

import pytest
import torch

from optical.eval.encoding import encode_cached, encoder_fingerprint, token_embeddings
from optical.models.tiny import tiny_encoder

WORDS = ["cat", "dog", "paka", "mbwa"]


@pytest.fixture(autouse=True)
def cache_root(tmp_path, monkeypatch):
    monkeypatch.setenv("OPTICAL_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_second_call_reads_the_cache(cache_root, monkeypatch):
    encoder = tiny_encoder(WORDS, dropout=0.0)
    first = encode_cached(encoder, ["a", "b"], ["cat dog", "paka"], kind="passage")
    assert len(list((cache_root / "encoded").glob("*.pt"))) == 1
    monkeypatch.setattr(encoder, "encode", lambda *a, **k: pytest.fail("encoded again instead of reading the cache"))
    second = encode_cached(encoder, ["a", "b"], ["cat dog", "paka"], kind="passage")
    assert torch.equal(first, second)
    assert torch.allclose(first, tiny_encoder(WORDS, dropout=0.0).encode(["cat dog", "paka"], kind="passage"))


def test_changed_inputs_are_misses(cache_root):
    encoder = tiny_encoder(WORDS, dropout=0.0)
    encode_cached(encoder, ["a"], ["cat"], kind="passage")
    encode_cached(encoder, ["a"], ["dog"], kind="passage")  # text changed
    encode_cached(encoder, ["b"], ["cat"], kind="passage")  # id changed
    encode_cached(encoder, ["a"], ["cat"], kind="query")  # prefix kind changed
    before = encoder_fingerprint(encoder)
    with torch.no_grad():
        encoder.model.embeddings.word_embeddings.weight[5] += 1.0  # weights changed
    assert encoder_fingerprint(encoder) != before
    encode_cached(encoder, ["a"], ["cat"], kind="passage")
    assert len(list((cache_root / "encoded").glob("*.pt"))) == 5


def test_no_cache_writes_nothing(cache_root):
    encode_cached(tiny_encoder(WORDS), ["a"], ["cat"], kind="query", cache=False)
    assert not (cache_root / "encoded").exists() or not any((cache_root / "encoded").iterdir())


def test_token_embeddings_keep_only_content_tokens():
    encoder = tiny_encoder(WORDS, dropout=0.0)
    tokens = token_embeddings(encoder, ["cat dog", "paka"], kind="passage")
    assert [t.shape[0] for t in tokens] == [2, 1]  # no [CLS], [SEP] or padding
    assert torch.allclose(tokens[0].norm(dim=1), torch.ones(2))
