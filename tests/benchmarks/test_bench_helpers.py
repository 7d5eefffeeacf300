"""Pieces of the hybrid-batch and low-resource CLIR benchmarks that decide what runs and what is claimed."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import clir_lowres  # noqa: E402
import hybrid_batch  # noqa: E402
from _machine import Checkpoint  # noqa: E402


def test_alpha_sweep_names_the_paper_runs() -> None:
    plan = hybrid_batch.runs([1.0, 0.0, 0.5, 0.25], ot_weight=2.0)
    assert plan == {
        "mono": {"mode": "mono", "alpha": 1.0},
        "cross": {"mode": "cross", "alpha": 0.0},
        "hybrid": {"mode": "hybrid", "alpha": 0.5},
        "hybrid a=0.25": {"mode": "hybrid", "alpha": 0.25},
        "hybrid+ot": {"mode": "hybrid", "alpha": 0.5, "ot_weight": 2.0},
    }
    assert "hybrid+ot" not in hybrid_batch.runs([0.5], ot_weight=0.0)


def _row(mono: float, cross: float, multi: float, distance: float) -> dict:
    macro = {s: {"AP": v, "R@1": 0.0, "R@10": 0.0} for s, v in zip(hybrid_batch.SETTINGS, (mono, cross, multi),
                                                                    strict=True)}
    return {"eval": {"macro": macro, "rank_distance": {"macro": distance}}}


def test_claims_say_plainly_whether_hybrid_held(tmp_path) -> None:
    ckpt = Checkpoint(tmp_path / "c.json")
    ckpt.put("mono", _row(0.30, 0.10, 0.05, 900.0))
    ckpt.put("cross", _row(0.20, 0.20, 0.06, 700.0))
    ckpt.put("hybrid", _row(0.29, 0.19, 0.07, 950.0))
    lines = hybrid_batch.claims(ckpt)
    assert lines[0].startswith("- mono: hybrid is 0.0100 MAP below the best (mono)")
    assert lines[1].startswith("- cross: hybrid is 0.0100 MAP below the best (cross)")
    assert lines[2].startswith("- multi: hybrid is best")
    assert "not lower: the claim did not hold" in lines[3]


def test_mixed_bitext_takes_equal_shares_round_robin(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("OPTICAL_CACHE", str(tmp_path / "cache"))
    for lang in ("sw", "fr"):
        (tmp_path / f"en-{lang}.tsv").write_text("".join(f"e{i}\t{lang}{i}\n" for i in range(5)))
    path = clir_lowres.mixed_bitext(tmp_path, ("sw", "fr"), 4)
    assert path.read_text().splitlines() == ["e0\tsw0", "e0\tfr0", "e1\tsw1", "e1\tfr1"]


def test_significance_is_holm_adjusted_across_languages(tmp_path) -> None:
    from optical.eval.significance import adjust_p_values, paired_t_test

    ckpt = Checkpoint(tmp_path / "c.json")
    base = {"sw": {f"q{i}": 0.1 * (i % 3) for i in range(12)}, "fr": {f"q{i}": 0.5 for i in range(12)}}
    better = {"sw": {q: v + 0.2 + 0.01 * (int(q[1:]) % 2) for q, v in base["sw"].items()},
              "fr": {q: v + (0.01 if int(q[1:]) % 2 else -0.01) for q, v in base["fr"].items()}}
    ckpt.put("zero", {"per_query": base})
    ckpt.put("new", {"per_query": better})
    result = clir_lowres.significance(ckpt, "new", "zero")
    raw = [paired_t_test(better[x], base[x]).p_value for x in ("sw", "fr")]
    assert [result[x][1] for x in ("sw", "fr")] == pytest.approx(adjust_p_values(raw, "holm"))
    assert result["sw"][0] == pytest.approx(0.205)
    assert clir_lowres.significance(ckpt, "new", "missing") == {}


def test_checkpoint_shared_by_two_workers_keeps_both_rows(tmp_path) -> None:
    first, second = Checkpoint(tmp_path / "c.json"), Checkpoint(tmp_path / "c.json")
    first.put("a", {"value": 1})
    assert "a" in second  # read from the file, not from second's stale copy
    second.put("b", {"value": 2})
    first.put("c", {"value": 3})
    assert set(Checkpoint(tmp_path / "c.json").rows) == {"a", "b", "c"}
    fresh = Checkpoint(tmp_path / "c.json", fresh=True)
    assert "a" not in fresh
    fresh.put("d", {"value": 4})
    assert set(Checkpoint(tmp_path / "c.json").rows) == {"d"}


def test_study_units_are_claimed_once_and_dead_claims_are_taken_over(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("OPTICAL_CACHE", str(tmp_path / "cache"))
    import ot_study

    held = ot_study.Claim.take("screen/nce/sw/100")
    assert held is not None
    assert ot_study.Claim.take("screen/nce/sw/100") is None  # this live process holds it
    held.path.write_text("999999999")  # a worker that no longer exists
    assert ot_study.Claim.take("screen/nce/sw/100") is not None
    ckpt = Checkpoint(tmp_path / "c.json")
    ckpt.put("done", {})
    assert list(ot_study.units(ckpt, ["done", "todo"])) == ["todo"]


def test_study_curve_table_takes_the_final_stage_row_as_its_own_size(tmp_path) -> None:
    import argparse

    import ot_study

    args = argparse.Namespace(curve_steps=100, final_steps=100, pairs=8000, curve_langs=["sw"],
                              curve_variants=["nce", "ot+nce"])
    ckpt = Checkpoint(tmp_path / "c.json")
    ap = {f"q{i}": 0.1 * (i % 4) for i in range(12)}
    better = {q: v + 0.05 + 0.01 * (int(q[1:]) % 2) for q, v in ap.items()}
    ckpt.put("curve/nce/sw/100/p500/s0", {"ap": ap})
    ckpt.put("curve/ot+nce/sw/100/p500/s0", {"ap": better})
    ckpt.put("final/nce/sw/100/s0", {"ap": ap})
    ckpt.put("final/ot+nce/sw/100/s0", {"ap": ap})
    ckpt.put("final/ot+nce/sw/100/s1", {"ap": better})  # another seed: not a curve point
    lines = ot_study.curve_table(ckpt, args)
    rows = [line for line in lines if line.startswith("| sw")]
    assert rows[0].startswith("| sw | 500 | 0.150 | 0.205 | +0.0550 (p=")
    assert rows[1] == "| sw | 8000 | 0.150 | 0.150 | +0.0000 (p=1) |"


def test_study_late_stage_picks_by_dev_maxsim_and_tests_maxsim_against_dense(tmp_path) -> None:
    import argparse

    import ot_study
    from scipy.stats import ttest_rel

    args = argparse.Namespace(screen_steps=100, final_steps=100, screen_langs=["sw"], final_langs=["sw", "tl"])
    ckpt = Checkpoint(tmp_path / "c.json")
    low = {f"q{i}": 0.1 * (i % 4) for i in range(12)}
    high = {q: v + 0.05 + 0.01 * (int(q[1:]) % 3) for q, v in low.items()}
    zero = {"ap": low, "ap_maxsim": low, "ceiling_ap": high, "ceiling_ap_maxsim": high}
    trained = {"history": [{"plan_entropy": 0.5}], "evaluations": [{"parallel_cosine": 0.7}]}
    ckpt.put("late/dev/zero-shot/sw", zero)
    ckpt.put("late/dev/ot+nce/sw/100/s0", {**trained, "ap": high, "ap_maxsim": low})
    ckpt.put("late/dev/ot+nce centered/sw/100/s0", {**trained, "ap": low, "ap_maxsim": high})
    ckpt.put("late/dev/cos+nce/sw/100/s0", {**trained, "ap": high, "ap_maxsim": high})  # not transport
    assert ot_study.late_finalists(ckpt, args) == ["nce", "cos+nce", "ot+nce", "ot+nce centered"]

    ckpt.put("late/test/zero-shot/sw", zero)
    ckpt.put("late/test/nce/sw/100/s3", {"ap": low, "ap_maxsim": low})
    ckpt.put("late/test/ot+nce/sw/100/s3", {"ap": low, "ap_maxsim": high})
    ckpt.put("late/test/ot+nce/sw/100/s4", {"ap": high, "ap_maxsim": high})
    lines, summary = ot_study.late_table(ckpt, args)
    assert "| ot+nce centered | 0.1500 | 0.2100 | +0.0600 | 0% | 100% | 0.500 |  | 0.700 |" in lines
    assert "| ot+nce | 2 | 0.180 / 0.210 (100%) |" in lines  # dense: mean of the two seeds
    expected = ttest_rel(list(high.values()), list(low.values()))
    assert summary["ot+nce"]["sw"]["maxsim_vs_nce"]["holm_p"] == pytest.approx(expected.pvalue)
    seed_mean_dense = [(a + b) / 2 for a, b in zip(low.values(), high.values(), strict=True)]
    expected = ttest_rel(list(high.values()), seed_mean_dense)
    assert summary["ot+nce"]["sw"]["maxsim_vs_dense"]["holm_p"] == pytest.approx(expected.pvalue)
    assert "tl" not in summary["ot+nce"]  # no tl rows: the language is left out


def test_study_final_table_counts_late_seeds_once(tmp_path) -> None:
    import argparse

    import ot_study

    args = argparse.Namespace(final_langs=["sw"])
    ckpt = Checkpoint(tmp_path / "c.json")
    low = {f"q{i}": 0.1 * (i % 4) for i in range(12)}
    high = {q: v + 0.06 for q, v in low.items()}
    ckpt.put("final/zero-shot/sw", {"ap": low})
    ckpt.put("final/ceiling/sw", {"ap": {q: v + 0.1 for q, v in low.items()}})
    ckpt.put("final/nce/sw/100/s0", {"ap": low})
    ckpt.put("late/test/nce/sw/100/s3", {"ap": high})  # a further seed
    ckpt.put("final/nce/sw/100/s3", {"ap": high})  # the same seed run by the final stage: one student
    lines, summary = ot_study.final_table(ckpt, args, 100)
    assert summary["nce"]["sw"]["seeds"] == 2
    assert summary["nce"]["sw"]["map"] == pytest.approx(0.18)


def test_study_dev_noise_table_pools_the_seed_spread_and_selection_keeps_seed_zero(tmp_path) -> None:
    import argparse

    import ot_study

    args = argparse.Namespace(screen_steps=100, screen_langs=["sw"], finalists=1)
    ckpt = Checkpoint(tmp_path / "c.json")
    for name, maps in {"nce": [0.370, 0.374, 0.372], "ot+nce": [0.380, 0.376, 0.378], "ot+nce w3": [0.379]}.items():
        for seed, value in enumerate(maps):
            ckpt.put(f"screen/{name}/sw/100" + (f"/s{seed}" if seed else ""), {"dev_map": value})
    lines = ot_study.screen_noise_table(ckpt, args)
    assert "| nce | 3 | 0.3700, 0.3740, 0.3720 | 0.3720 | 0.0020 |" in lines
    assert not any(line.startswith("| ot+nce w3 |") for line in lines)  # one seed: no spread
    assert any("Pooled seed sd 0.0020" in line and "0.0057 apart" in line for line in lines)
    assert ot_study.finalists(ckpt, args) == ["nce", "ot+nce"]  # seed-0 rows only (0.380 > 0.379)


def test_study_newlang_table_has_one_table_per_budget_with_the_control_first(tmp_path) -> None:
    import argparse

    import ot_study

    bitext = tmp_path / "bitext"
    bitext.mkdir()
    (bitext / "en-sw.tsv").write_text("".join(f"e{i}\ts{i}\n" for i in range(32)) + "\n")
    args = argparse.Namespace(newlang_lr=1e-4, bitext_dir=str(bitext))
    ckpt = Checkpoint(tmp_path / "c.json")
    ckpt.put("newlang/zero-shot/sw", {"dev": {"map": 0.0, "ceiling": 0.4}, "test": {"map": 0.0, "ceiling": 0.5}})
    ap = {f"q{i}": 0.1 * (i % 4) for i in range(12)}  # MAP 0.15
    for steps in (2, 4):
        for name in ("ot+nce", "nce"):  # the control is put last, and shown first
            evaluations = [{"step": s, "dev_map": 0.01 * s} for s in range(1, steps + 1)]
            evaluations[-1] |= {"bitext_p@1": 0.5, "parallel_cosine": 0.3}
            ckpt.put(f"newlang/{name}/sw/{steps}", {"ap": ap, "evaluations": evaluations, "s_per_step": 1.5})
    lines = ot_study.newlang_table(ckpt, args)
    assert [line for line in lines if line.startswith("### ")] == [
        "### 2 steps of 16 pairs (1.0 epochs)", "### 4 steps of 16 pairs (2.0 epochs)"]
    assert "all 32 English-Swahili pairs" in lines[2]
    rows = [line for line in lines if line.startswith(("| nce", "| ot+nce"))]
    assert rows[0] == "| nce | 0.010 | 0.020 | 0.500 | 0.300 | 0.150 | 30% | 1.50 |"
    assert rows[1].startswith("| ot+nce |") and rows[3].startswith("| ot+nce | 0.010 | 0.020 | 0.030 | 0.040 |")
    assert lines.count("`ot+nce` against `nce` on test: +0.0000 MAP (paired t-test p=1).") == 2


def test_study_final_table_leaves_the_macro_of_an_incomplete_row_empty(tmp_path) -> None:
    import argparse

    import ot_study

    args = argparse.Namespace(final_langs=["sw", "tl"])
    ckpt = Checkpoint(tmp_path / "c.json")
    ap = {f"q{i}": 0.1 * (i % 4) for i in range(12)}
    for lang in ("sw", "tl"):
        ckpt.put(f"final/zero-shot/{lang}", {"ap": ap})
        ckpt.put(f"final/ceiling/{lang}", {"ap": {q: v + 0.1 for q, v in ap.items()}})
        ckpt.put(f"final/nce/{lang}/500/s0", {"ap": ap})
    ckpt.put("final/cos+nce/sw/500/s0", {"ap": ap})
    lines, _ = ot_study.final_table(ckpt, args, 500)
    assert "| nce | 1 | 0.150 (0%) | 0.150 (0%) | 0.150 |" in lines
    assert "| cos+nce | 1/0 | 0.150 (0%) |  |  |" in lines
