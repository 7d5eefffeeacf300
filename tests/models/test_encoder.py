"""Encoders on tiny models built from a config (no downloads)."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from optical.models import Encoder, EncoderConfig, dense_scores, maxsim_scores
from optical.models.tiny import tiny_encoder

WORDS = ["hello", "world", "habari", "dunia"]


def test_token_mask_excludes_special_and_padding_tokens() -> None:
    encoder = tiny_encoder(WORDS)
    tokens = encoder.encode_tokens(["hello world", "habari"])
    ids = tokens.input_ids
    special = torch.isin(ids, torch.tensor(encoder.tokenizer.all_special_ids))
    assert torch.equal(tokens.token_mask, tokens.attention_mask & ~special)
    assert tokens.token_mask.sum(1).tolist() == [2, 1]


def test_mean_and_cls_pooling() -> None:
    encoder = tiny_encoder(WORDS, pooling="mean", normalize=False)
    tokens = encoder.encode_tokens(["hello world", "habari"])
    expected = tokens.embeddings[1, :3].mean(0)  # [CLS] habari [SEP]
    assert torch.allclose(tokens.pooled("mean", False)[1], expected, atol=1e-6)
    assert torch.equal(tokens.pooled("cls", False), tokens.embeddings[:, 0])
    assert torch.allclose(tokens.pooled("mean", True).norm(dim=1), torch.ones(2))


def test_prefixes_are_configuration() -> None:
    encoder = tiny_encoder(WORDS, query_prefix="hello ", passage_prefix="")
    query, _ = encoder.tokenize(["world"], kind="query")
    passage, _ = encoder.tokenize(["world"], kind="passage")
    assert query["input_ids"].shape[1] == passage["input_ids"].shape[1] + 1


def test_save_and_load_round_trip_with_projection(tmp_path) -> None:
    encoder = tiny_encoder(WORDS, projection_dim=8, pooling="cls", query_prefix="hello ")
    vectors = encoder.encode(["habari dunia", "hello"])
    encoder.save(tmp_path / "enc")
    again = Encoder.load(tmp_path / "enc")
    assert again.config.pooling == "cls" and again.config.query_prefix == "hello "
    assert torch.allclose(again.encode(["habari dunia", "hello"]), vectors, atol=1e-6)
    modules = json.loads((tmp_path / "enc" / "modules.json").read_text())
    assert [m["type"].split(".")[-1] for m in modules] == ["Transformer", "Pooling", "Dense", "Normalize"]


def test_saved_folder_loads_in_transformers(tmp_path) -> None:
    from transformers import AutoModel, AutoTokenizer

    encoder = tiny_encoder(WORDS)
    encoder.save(tmp_path / "enc")
    model, tokenizer = AutoModel.from_pretrained(tmp_path / "enc"), AutoTokenizer.from_pretrained(tmp_path / "enc")
    batch = tokenizer(["hello world"], return_tensors="pt")
    with torch.no_grad():
        states = model(**batch).last_hidden_state
    ours = encoder.eval().encode_tokens(["hello world"]).embeddings
    assert torch.allclose(states, ours, atol=1e-5)


def test_truncation_is_counted() -> None:
    encoder = tiny_encoder(WORDS, max_length=4)
    tokens = encoder.encode_tokens(["hello world hello world", "hello"])
    assert tokens.truncated == 1 and tokens.embeddings.shape[1] == 4


def test_bad_config() -> None:
    with pytest.raises(ValueError, match="pooling"):
        EncoderConfig(pooling="max")
    with pytest.raises(ValueError, match="kind"):
        tiny_encoder(WORDS).tokenize(["x"], kind="document")


def test_maxsim_against_a_loop() -> None:
    generator = torch.Generator().manual_seed(0)
    q, d = torch.randn(2, 3, 4, generator=generator), torch.randn(3, 5, 4, generator=generator)
    q_mask = torch.tensor([[1, 1, 0], [1, 1, 1]], dtype=torch.bool)
    d_mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]], dtype=torch.bool)
    scores = maxsim_scores(q, q_mask, d, d_mask)
    for i in range(2):
        for j in range(3):
            qi, dj = F.normalize(q[i][q_mask[i]], dim=-1), F.normalize(d[j][d_mask[j]], dim=-1)
            assert scores[i, j] == pytest.approx(float((qi @ dj.T).max(1).values.sum()), abs=1e-6)


def test_dense_scores_are_dot_products() -> None:
    q, d = torch.randn(2, 4), torch.randn(3, 4)
    assert torch.allclose(dense_scores(q, d), torch.einsum("qd,pd->qp", q, d))


def test_encode_batches_by_length_and_returns_the_input_order() -> None:
    encoder = tiny_encoder(WORDS).eval()
    texts = ["the house", "a", "the house of the big house", "house", "the big", "a house of the house"]
    one_by_one = torch.cat([encoder.encode([t]) for t in texts])
    batched = encoder.encode(texts, batch_size=4)
    assert torch.allclose(batched, one_by_one, atol=1e-5)
    assert encoder.encode([]).shape == (0, encoder.dim)


def test_saved_folder_has_the_usual_permissions(tmp_path) -> None:
    import os
    import stat

    old = os.umask(0o022)
    try:
        tiny_encoder(WORDS, projection_dim=8).save(tmp_path / "enc")
        tiny_encoder(WORDS).save(tmp_path / "enc")  # replacing a folder keeps them too
    finally:
        os.umask(old)
    entries = [tmp_path / "enc", *(tmp_path / "enc").rglob("*")]
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in entries}
    assert modes["enc"] == 0o755 and modes["1_Pooling"] == 0o755
    assert modes["config.json"] == 0o644 and modes["modules.json"] == 0o644
    assert not (tmp_path / "enc" / "optical_projection.pt").exists()  # nothing of the old folder lingers
    assert [p.name for p in tmp_path.iterdir()] == ["enc"]  # no staging folder left behind


def test_a_name_that_is_no_folder_fails_fast_unless_downloads_are_allowed(tmp_path, monkeypatch) -> None:
    from optical.config import InputError

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("OPTICAL_ALLOW_DOWNLOAD", raising=False)
    with pytest.raises(InputError, match=r"no model folder.*--allow-download or HF_HUB_OFFLINE=0\), intfloat/e5-smal"):
        Encoder.load("intfloat/e5-smal")
    with pytest.raises(InputError):
        Encoder(EncoderConfig(model=str(tmp_path / "missing")))
    with pytest.raises(ValueError, match="no model given"):
        Encoder.load("")  # not the current folder
    # Allowed: the name goes to transformers (kept offline here, so it fails there, not in our check).
    monkeypatch.setenv("OPTICAL_ALLOW_DOWNLOAD", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(OSError):
        Encoder.load("intfloat/e5-smal")


def _saved_student(tmp_path):
    encoder = tiny_encoder(WORDS, projection_dim=8, query_prefix="hello ", passage_prefix="world ", dropout=0.0)
    torch.nn.init.normal_(encoder.projection.weight)
    torch.nn.init.normal_(encoder.projection.bias)
    encoder.save(tmp_path / "student")
    return encoder, tmp_path / "student"


def test_sentence_transformers_reproduces_encode_with_projection_and_prompts(tmp_path) -> None:
    sentence_transformers = pytest.importorskip("sentence_transformers")
    encoder, folder = _saved_student(tmp_path)
    texts = ["habari dunia", "hello world, habari"]
    model = sentence_transformers.SentenceTransformer(str(folder), device="cpu")
    queries = model.encode_query(texts, convert_to_tensor=True)
    documents = model.encode_document(texts, convert_to_tensor=True)
    assert queries.shape == (2, 8)
    assert torch.allclose(queries, encoder.encode(texts, kind="query"), atol=1e-5)
    assert torch.allclose(documents, encoder.encode(texts, kind="passage"), atol=1e-5)
    assert not torch.allclose(queries, documents, atol=1e-3)  # the prompts reach the model


def test_encode_shows_progress_when_asked(capsys) -> None:
    from optical.models.tiny import tiny_encoder

    encoder = tiny_encoder(["a", "b", "c"])
    texts = ["a b", "c", "a", "b c a"] * 5
    quiet = encoder.encode(texts, batch_size=4)
    assert "encoding" not in capsys.readouterr().err
    shown = encoder.encode(texts, batch_size=4, progress=True)
    err = capsys.readouterr().err
    assert "encoding (query)" in err and "/20 " in err  # the total: how long there is to go
    assert torch.equal(quiet, shown)
