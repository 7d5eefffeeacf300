"""Pieces of benchmarks/bench_pipeline.py that decide what runs, what is compared and what is claimed."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import bench_pipeline  # noqa: E402
from _machine import Checkpoint  # noqa: E402

from optical.eval.index import faiss_available  # noqa: E402


def test_presets_and_section_selection() -> None:
    args = bench_pipeline.parse_args(["--only", "a,d", "--preset", "gpu", "--quick"])
    assert args.only == ["a", "d"] and args.device == "cuda" and args.quick
    args = bench_pipeline.parse_args([])
    assert args.only == list("abcdef") and args.device == "cpu" and args.precision is None
    assert args.sizes == [10_000, 100_000, 1_000_000]


def test_distillation_table_gives_ratios_against_sentence_transformers(tmp_path) -> None:
    ckpt = Checkpoint(tmp_path / "c.json")
    common = {"pairs": 1920, "steps": 120, "tokens": 24000.0}
    ckpt.put("b/cpu/1920/mse", {**common, "system": "optical distill --objective mse", "process_s": 50.0,
                                "train_s": 40.0, "s_per_step": 0.33, "tokens_per_s": 600.0})
    ckpt.put("b/cpu/1920/st", {**common, "system": "sentence-transformers SentenceTransformerTrainer + MSELoss",
                               "process_s": 150.0, "train_s": 130.0, "s_per_step": 1.2, "tokens_per_s": 200.0})
    lines = bench_pipeline.table_b(ckpt)
    row = next(line for line in lines if line.startswith("| optical distill --objective mse"))
    assert row.endswith("| 3.00x | 3.00x |")
    assert any("1920 pairs, 120 steps" in line for line in lines)


def test_compile_table_separates_the_first_step_from_the_steady_state(tmp_path) -> None:
    ckpt = Checkpoint(tmp_path / "c.json")
    common = {"pairs": 1920, "steps": 20, "tokens": 24000.0, "tokens_per_s": 600.0}
    eager = [1.0 * (i + 1) for i in range(20)]  # 1 s every step
    compiled = [30.0 + 0.5 * i for i in range(20)]  # 30 s to compile, then 0.5 s a step
    ckpt.put("f/cpu/1920/eager", {**common, "process_s": 40.0, "step_seconds": eager})
    ckpt.put("f/cpu/1920/compile", {**common, "process_s": 50.0, "step_seconds": compiled})
    lines = bench_pipeline.table_f(ckpt)
    assert "| eager | 40.0 | 1.0 | 1.00 | 600 |" in lines
    assert "| --compile | 50.0 | 30.0 | 0.50 | 600 |" in lines
    assert "Ratio eager / compiled: process 0.80x, steady state 2.00x." in lines


def test_profile_table_shares_leave_out_the_cache_alternative(tmp_path) -> None:
    ckpt = Checkpoint(tmp_path / "c.json")
    seconds = {"data and tokenization": 0.1, "teacher forward": 0.3, "teacher from cache (instead)": 0.01,
               "student forward": 0.6}
    ckpt.put("a/cpu/ot/steps=3", {"objective": "ot", "precision": "fp32", "steps": 3, "seconds": seconds,
                                  "padding_random": 0.4, "padding_bucketed": 0.1})
    row = next(line for line in bench_pipeline.table_a(ckpt) if line.startswith("| ot |"))
    assert "0.300 (30%)" in row and "0.600 (60%)" in row and "| 1.000 |" in row and "40% / 10%" in row


@pytest.mark.skipif(not faiss_available(), reason="faiss is not installed")
def test_search_rows_compare_every_index_with_brute_force() -> None:
    args = bench_pipeline.parse_args(["--only", "d"])
    rows = bench_pipeline.search_rows(3000, args, dim=16, num_queries=20, k=10)
    assert list(rows) == list(bench_pipeline.SEARCH_KINDS)
    for exact in ("exact", "exact, FAISS for every batch"):
        assert rows[exact]["identical_to_brute"] and rows[exact]["recall@100"] == 1.0
    assert rows["brute"]["recall@100"] == 1.0
    assert all(0.5 <= rows[kind]["recall@100"] <= 1.0 for kind in ("hnsw", "ivf"))


def test_encoding_table_marks_systems_a_quick_run_skipped(tmp_path) -> None:
    ckpt = Checkpoint(tmp_path / "c.json")
    prefix = "c/cpu/repeats=1/texts=64"
    ckpt.put(f"{prefix}/query batch 1", {"per_text_s": {"optical fp32": 0.01, "optical bf16": 0.02,
                                                        "sentence-transformers": 0.015},
                                         "native_bf16": False, "repeats": 1, "texts": 8})
    ckpt.put(f"{prefix}/passage batch 64", {"per_text_s": {"optical fp32": 0.004, "sentence-transformers": 0.002},
                                            "native_bf16": False, "repeats": 1, "texts": 64})
    lines = bench_pipeline.table_c(ckpt)
    assert "| query batch 1 | 8 | 10.00 | 20.00 | 15.00 | 1.50x |" in lines
    assert "| passage batch 64 | 64 | 4.00 | - | 2.00 | 0.50x |" in lines
