"""Paired t-test against its formula; Holm and Bonferroni against hand-computed adjustments."""

from __future__ import annotations

import math

import pytest
from scipy import stats

from optical.eval.significance import adjust_p_values, bonferroni, compare_per_language, holm, paired_t_test


def test_paired_t_test_equals_the_formula():
    a = {"q1": 0.5, "q2": 0.7, "q3": 0.2, "q4": 0.9}
    b = {"q1": 0.4, "q2": 0.4, "q3": 0.25, "q4": 0.6}
    differences = [0.1, 0.3, -0.05, 0.3]
    n = len(differences)
    mean = sum(differences) / n
    sd = math.sqrt(sum((d - mean) ** 2 for d in differences) / (n - 1))
    t = mean / (sd / math.sqrt(n))
    p = 2 * stats.t.sf(abs(t), df=n - 1)
    result = paired_t_test(a, b)
    assert result.n == 4
    assert result.mean_difference == pytest.approx(mean)
    assert result.statistic == pytest.approx(t)
    assert result.p_value == pytest.approx(p)


def test_identical_systems_have_p_one():
    values = {"q1": 0.3, "q2": 0.6}
    result = paired_t_test(values, dict(values))
    assert (result.statistic, result.p_value) == (0.0, 1.0)
    assert not result.significant()


def test_a_constant_shift_is_infinitely_significant():
    result = paired_t_test({"q1": 0.5, "q2": 0.75}, {"q1": 0.25, "q2": 0.5})
    assert (result.statistic, result.p_value, result.mean_difference) == (float("inf"), 0.0, 0.25)


def test_paired_t_test_needs_the_same_queries():
    with pytest.raises(ValueError, match="different queries"):
        paired_t_test({"q1": 1.0, "q2": 0.0, "q3": 1.0}, {"q1": 1.0, "q2": 0.5})
    with pytest.raises(ValueError, match="at least 2"):
        paired_t_test({"q1": 1.0}, {"q1": 0.0})


# p = (0.01, 0.04, 0.03, 0.005), m = 4.  Sorted: 0.005, 0.01, 0.03, 0.04 with multipliers 4, 3, 2, 1:
# 0.02, 0.03, 0.06, 0.04 -> running maximum 0.02, 0.03, 0.06, 0.06.
P_VALUES = [0.01, 0.04, 0.03, 0.005]


def test_holm_by_hand():
    assert holm(P_VALUES) == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_bonferroni_by_hand():
    assert bonferroni(P_VALUES) == pytest.approx([0.04, 0.16, 0.12, 0.02])
    assert bonferroni([0.3, 0.6]) == [0.6, 1.0]


def test_holm_is_capped_at_one_and_never_above_bonferroni():
    p = [0.2, 0.5, 0.9, 0.04, 0.3]
    assert all(h <= b + 1e-15 for h, b in zip(holm(p), bonferroni(p), strict=True))
    assert max(holm(p)) == 1.0


def test_statsmodels_agrees_when_installed():
    multitest = pytest.importorskip("statsmodels.stats.multitest", reason="statsmodels is optional")
    p = [0.01, 0.04, 0.03, 0.005, 0.2, 0.5]
    assert holm(p) == pytest.approx(list(multitest.multipletests(p, method="holm")[1]))
    assert bonferroni(p) == pytest.approx(list(multitest.multipletests(p, method="bonferroni")[1]))


def test_compare_per_language_corrects_across_languages():
    a = {"sw": {"1": 0.9, "2": 0.8, "3": 0.7}, "tl": {"1": 0.2, "2": 0.1, "3": 0.4}}
    b = {"sw": {"1": 0.1, "2": 0.3, "3": 0.2}, "tl": {"1": 0.2, "2": 0.15, "3": 0.3}, "bn": {"1": 0.0, "2": 0.1}}
    tests = compare_per_language(a, b, correction="bonferroni")
    assert set(tests) == {"sw", "tl"}
    for lang, test in tests.items():
        assert test.adjusted_p_value == pytest.approx(min(1.0, 2 * paired_t_test(a[lang], b[lang]).p_value))
    with pytest.raises(ValueError, match="unknown correction"):
        adjust_p_values([0.1], "sidak")
