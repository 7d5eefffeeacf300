"""The parity benchmark on tiny models: without dropout both trainers must reach the same student."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest

from optical.data.bitext import write_bitext_tsv
from optical.distill.synthetic import VOCABULARY, synthetic_pairs
from optical.models.tiny import tiny_encoder

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from benchmarks import st_parity  # noqa: E402


def test_optical_distill_and_the_sentence_transformers_loss_train_the_same_student(tmp_path):
    model = tiny_encoder(VOCABULARY, seed=0, dropout=0.0, query_prefix="q: ").save(tmp_path / "model")
    write_bitext_tsv(tmp_path / "train.tsv", synthetic_pairs(40))
    write_bitext_tsv(tmp_path / "dev.tsv", synthetic_pairs(24, seed=5))
    args = argparse.Namespace(model=str(model), bitext=str(tmp_path / "train.tsv"),
                              dev_bitext=str(tmp_path / "dev.tsv"), objective="ot+nce", steps=4, batch_size=8,
                              pairs=40, dev_pairs=24, max_length=32, lr=5e-3, seed=0)
    optical_row = st_parity.run_optical(args, 0)
    st_row = st_parity.run_sentence_transformers(args, 0)
    # 4 steps at a large learning rate move the student well away from the start ...
    assert abs(optical_row["dev"]["parallel_cosine"] - optical_row["zero_shot"]["parallel_cosine"]) > 1e-3
    # ... along the same path: same batches, prefix, masks, objective, optimizer and schedule
    for measure in ("bitext_p@1", "parallel_cosine", "student_pairwise_cosine"):
        assert st_row["dev"][measure] == pytest.approx(optical_row["dev"][measure], abs=1e-4), measure
    assert st_row["last_loss"] == pytest.approx(optical_row["last_loss"], rel=1e-3)
    text = st_parity.markdown(args, [optical_row, st_row], 1.0)
    assert "| optical distill (seed 0) |" in text and "|ΔP@1| = 0.0000" in text
