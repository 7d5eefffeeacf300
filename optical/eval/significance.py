r"""Paired significance tests between two systems, with corrections for testing many languages.

For one measure and one language, the paired t-test compares per-query values
:math:`a_q, b_q` over the queries :math:`q = 1..n` both systems were scored on:

.. math::
    \bar\delta = \frac{1}{n}\sum_q (a_q - b_q), \qquad
    t = \frac{\bar\delta}{s_\delta / \sqrt{n}}, \qquad p = 2\,P(T_{n-1} > |t|)

(``scipy.stats.ttest_rel``).  When every difference is 0 the systems are identical on that
sample: :math:`t = 0, p = 1` (scipy returns NaN there); when every difference is the same
non-zero :math:`c`, :math:`t = \pm\infty, p = 0`.

Testing :math:`m` languages at once inflates false positives, so p-values are adjusted:

- Bonferroni: :math:`\tilde p_i = \min(1, m\,p_i)`;
- Holm (step-down): with :math:`p_{(1)} \le \dots \le p_{(m)}`,
  :math:`\tilde p_{(i)} = \min\!\left(1, \max_{j \le i} (m - j + 1)\,p_{(j)}\right)`.

Both control the family-wise error rate; Holm is uniformly more powerful.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy import stats

__all__ = [
    "CORRECTIONS",
    "PairedTest",
    "adjust_p_values",
    "bonferroni",
    "compare_per_language",
    "holm",
    "paired_t_test",
]


@dataclass(frozen=True)
class PairedTest:
    """A paired t-test of system A against system B on one sample of queries.

    ``mean_difference`` is mean(A - B); ``adjusted_p_value`` is filled by a correction.
    """

    n: int
    mean_a: float
    mean_b: float
    mean_difference: float
    statistic: float
    p_value: float
    adjusted_p_value: float | None = None

    def significant(self, alpha: float = 0.05) -> bool:
        """Whether the (adjusted, if any) p-value is below ``alpha``."""
        p = self.adjusted_p_value if self.adjusted_p_value is not None else self.p_value
        return p < alpha


def paired_t_test(a: Mapping[str, float], b: Mapping[str, float]) -> PairedTest:
    """Two-sided paired t-test over the queries both mappings score (``{qid: value}``).

    Raises
    ------
    ValueError
        When the two systems share fewer than two queries.
    """
    shared = sorted(set(a) & set(b))
    if len(shared) < 2:
        raise ValueError(f"a paired t-test needs at least 2 shared queries, got {len(shared)}")
    if len(shared) != len(a) or len(shared) != len(b):
        raise ValueError(
            f"the systems were scored on different queries ({len(a)} and {len(b)}, {len(shared)} shared)"
        )
    values_a = np.array([a[q] for q in shared], dtype=np.float64)
    values_b = np.array([b[q] for q in shared], dtype=np.float64)
    difference = values_a - values_b
    if np.all(difference == difference[0]):
        # No variance: identical systems (t = 0, p = 1), or a constant shift (|t| = inf, p = 0).
        statistic = 0.0 if difference[0] == 0 else float(np.copysign(np.inf, difference[0]))
        p_value = 1.0 if difference[0] == 0 else 0.0
    else:
        result = stats.ttest_rel(values_a, values_b)
        statistic, p_value = float(result.statistic), float(result.pvalue)
    return PairedTest(
        n=len(shared),
        mean_a=float(values_a.mean()),
        mean_b=float(values_b.mean()),
        mean_difference=float(difference.mean()),
        statistic=statistic,
        p_value=p_value,
    )


def bonferroni(p_values: Sequence[float]) -> list[float]:
    r"""Bonferroni-adjusted p-values :math:`\min(1, m p_i)`."""
    m = len(p_values)
    return [min(1.0, m * p) for p in p_values]


def holm(p_values: Sequence[float]) -> list[float]:
    r"""Holm step-down adjusted p-values (same order as given)."""
    m = len(p_values)
    order = np.argsort(np.asarray(p_values, dtype=np.float64), kind="stable")
    adjusted = np.empty(m, dtype=np.float64)
    running = 0.0
    for position, index in enumerate(order):
        running = max(running, (m - position) * p_values[index])
        adjusted[index] = min(1.0, running)
    return adjusted.tolist()


CORRECTIONS = {"holm": holm, "bonferroni": bonferroni, "none": lambda p: list(p)}


def adjust_p_values(p_values: Sequence[float], method: str = "holm") -> list[float]:
    """Adjust p-values with ``"holm"``, ``"bonferroni"`` or ``"none"``."""
    if method not in CORRECTIONS:
        raise ValueError(f"unknown correction {method!r}; known: {', '.join(CORRECTIONS)}")
    return CORRECTIONS[method](p_values)


def compare_per_language(
    system_a: Mapping[str, Mapping[str, float]],
    system_b: Mapping[str, Mapping[str, float]],
    *,
    correction: str = "holm",
) -> dict[str, PairedTest]:
    """Paired t-tests per language (``{lang: {qid: value}}`` for each system), corrected across languages.

    Only languages both systems have are tested; the family is those languages.
    """
    languages = [lang for lang in system_a if lang in system_b]
    if not languages:
        raise ValueError("the two systems share no language")
    tests = [paired_t_test(system_a[lang], system_b[lang]) for lang in languages]
    adjusted = adjust_p_values([t.p_value for t in tests], correction)
    return {
        lang: replace(t, adjusted_p_value=p)
        for lang, t, p in zip(languages, tests, adjusted, strict=True)
    }
