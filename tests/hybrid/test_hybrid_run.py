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
