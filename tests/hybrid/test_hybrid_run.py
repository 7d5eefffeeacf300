"""Hybrid batch training end to end on a tiny encoder, and on the mMARCO layout."""

from __future__ import annotations

import pytest
from hybrid_fixtures import LANGS, parallel_set

from optical.hybrid.run import HybridConfig, load_mmarco_triplet_set, train_hybrid
from optical.models.tiny import tiny_encoder

WORDS = ["query", "passage", *LANGS]


def test_training_lowers_the_loss_and_logs_the_batch_kinds(tmp_path) -> None:
    config = HybridConfig(out=str(tmp_path / "run"), steps=40, batch_size=8, lr=3e-3, quiet=True, alpha=0.5,
                          checkpoint_every=40, temperature=0.1)
    result = train_hybrid(config, encoder=tiny_encoder(WORDS), sets=[parallel_set()])
    losses = [h["nce"] for h in result.history]
    assert sum(losses[-5:]) < sum(losses[:5])
    assert 0 < sum(h["mono"] for h in result.history) < 40
    assert (tmp_path / "run" / "model" / "optical_encoder.json").exists()


def test_bad_alpha_is_refused_before_training() -> None:
    with pytest.raises(ValueError, match="alpha"):
        HybridConfig(alpha=-0.1)


def test_mmarco_layout_becomes_a_triplet_set(tmp_path) -> None:
    from optical.data.collection import write_documents_tsv, write_queries_tsv
    from optical.data.languages import language_name
    from optical.data.mmarco import write_triples
    from optical.data.records import Document, Query, Triple

    for lang in ("en", "sw"):
        name = language_name(lang)
        write_queries_tsv(tmp_path / f"{name}_queries.train.tsv", [Query("1", f"{lang} q one", lang)])
        write_documents_tsv(tmp_path / f"{name}_collection.tsv",
                            [Document(d, f"{lang} passage {d}", lang) for d in ("10", "11")])
    write_triples(tmp_path / "triples.train.ids.tsv", [Triple("1", "10", "11")])
    triplet_set = load_mmarco_triplet_set(tmp_path, ("en", "sw"))
    assert triplet_set.triplets == [("1", "10", "11")]
    assert triplet_set.languages == ("en", "sw")
    assert triplet_set.passages["sw"]["11"] == "sw passage 11"
    with pytest.raises(ValueError, match="language fr"):
        load_mmarco_triplet_set(tmp_path, ("en", "fr"))


def test_auxiliary_ot_term_trains_foreign_queries_against_the_frozen_pivot(tmp_path) -> None:
    import torch

    from optical.distill.ot import OTObjective
    from optical.hybrid.run import AuxiliaryOT, make_step
    from optical.hybrid.sampler import Batch

    encoder = tiny_encoder(WORDS).eval()  # no dropout: the OT term is compared with a separate forward
    training_set = parallel_set()
    teacher = tiny_encoder(WORDS).eval()
    teacher.requires_grad_(False)
    auxiliary = AuxiliaryOT(teacher, OTObjective(eps=0.1), {training_set.name: training_set}, weight=2.0)
    batch = Batch("cross", training_set.name, ["sw query 1", "en query 2"], ["fr passage 1", "sw passage 2"],
                  ["fr passage 2", "sw passage 3"], ["sw", "en"], ["fr", "sw"], ["q1", "q2"])
    output = make_step(encoder, 0.1, auxiliary)(encoder, batch)
    plain = make_step(encoder, 0.1)(encoder, batch)
    # Only the Swahili query has a pivot counterpart to move toward: the OT term is that one pair's cost.
    expected = OTObjective(eps=0.1)(teacher.encode_tokens(["en query 1"]), encoder.encode_tokens(["sw query 1"]))
    assert output.logs["ot"] == pytest.approx(float(expected.loss.detach()), rel=1e-5)
    assert float(output.loss.detach()) == pytest.approx(plain.logs["nce"] + 2.0 * output.logs["ot"], rel=1e-5)
    output.loss.backward()
    assert all(p.grad is None for p in teacher.parameters())
    english_only = Batch("mono", training_set.name, ["en query 1"], ["en passage 1"], ["en passage 2"], ["en"], ["en"],
                         ["q1"])
    assert "ot" not in make_step(encoder, 0.1, auxiliary)(encoder, english_only).logs
    assert torch.isfinite(output.loss)


def test_train_hybrid_with_auxiliary_ot_keeps_the_starting_model_frozen(tmp_path) -> None:
    encoder = tiny_encoder(WORDS)
    start = {k: v.clone() for k, v in encoder.state_dict().items()}
    config = HybridConfig(out=str(tmp_path / "run"), steps=6, batch_size=4, lr=3e-3, quiet=True, checkpoint_every=6,
                          ot_weight=1.0, mode="cross")
    result = train_hybrid(config, encoder=encoder, sets=[parallel_set()])
    assert all("ot" in h for h in result.history)
    assert any(not torch_equal(v, encoder.state_dict()[k]) for k, v in start.items())
    with pytest.raises(ValueError, match="ot_weight"):
        HybridConfig(ot_weight=-1.0)


def test_train_hybrid_auxiliary_ot_at_a_hidden_layer(tmp_path) -> None:
    encoder = tiny_encoder(WORDS)
    config = HybridConfig(out=str(tmp_path / "run"), steps=2, batch_size=4, lr=3e-3, quiet=True, checkpoint_every=2,
                          ot_weight=1.0, mode="cross", ot_layer=1)
    result = train_hybrid(config, encoder=encoder, sets=[parallel_set()])
    assert encoder.extra_layer == 1  # the trained encoder returns layer 1's states to the transport term
    assert all("ot" in h and h["ot"] > 0 for h in result.history)


def torch_equal(a, b) -> bool:
    import torch

    return bool(torch.equal(a, b))


def test_frozen_embeddings_stay_fixed_while_the_rest_trains(tmp_path) -> None:
    import torch

    encoder = tiny_encoder(WORDS)
    start = {k: v.clone() for k, v in encoder.state_dict().items()}
    config = HybridConfig(out=str(tmp_path / "run"), steps=3, batch_size=4, lr=3e-3, quiet=True, checkpoint_every=3,
                          freeze_embeddings=True)
    train_hybrid(config, encoder=encoder, sets=[parallel_set()])
    after = encoder.state_dict()
    embedding_keys = [k for k in start if "embeddings" in k and k.endswith("weight") and "LayerNorm" not in k]
    assert embedding_keys and all(torch.equal(start[k], after[k]) for k in embedding_keys)
    assert any(not torch.equal(start[k], after[k]) for k in start if "encoder.layer" in k)
