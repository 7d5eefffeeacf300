"""Batch composition, the alpha rate, proportional sets and exact resume of the hybrid sampler."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hybrid_fixtures import LANGS, parallel_set

from optical.hybrid import HybridBatchSampler, info_nce


def lang_of(text: str) -> str:
    return text.split()[0]


def test_mono_batches_are_all_one_language() -> None:
    sampler = HybridBatchSampler([parallel_set()], 8, mode="mono", seed=1)
    seen = set()
    for _ in range(30):
        batch = sampler.next_batch()
        langs = {lang_of(t) for t in batch.queries + batch.positives + batch.negatives}
        assert len(langs) == 1 and batch.kind == "mono"
        seen |= langs
    assert seen == set(LANGS)  # languages drawn uniformly: all appear


def test_cross_batches_pair_every_query_with_passages_in_another_language() -> None:
    sampler = HybridBatchSampler([parallel_set()], 8, mode="cross", seed=2)
    for _ in range(30):
        batch = sampler.next_batch()
        assert batch.kind == "cross"
        for query, positive, negative in zip(batch.queries, batch.positives, batch.negatives, strict=True):
            assert lang_of(query) != lang_of(positive) == lang_of(negative)
        assert [lang_of(q) for q in batch.queries] == batch.query_langs


@pytest.mark.parametrize("alpha", [0.0, 0.25, 0.5, 0.75, 1.0])
def test_hybrid_rate_of_monolingual_batches_is_alpha(alpha) -> None:
    sampler = HybridBatchSampler([parallel_set()], 4, mode="hybrid", alpha=alpha, seed=3)
    draws = 2000
    mono = sum(sampler.next_batch().kind == "mono" for _ in range(draws))
    tolerance = 4 * math.sqrt(alpha * (1 - alpha) / draws) + 1e-9  # four standard deviations
    assert abs(mono / draws - alpha) <= tolerance


def test_sets_are_drawn_in_proportion_to_size_and_one_language_sets_stay_mono() -> None:
    big, small = parallel_set("big", 90), parallel_set("small", 30, langs=("en",))
    sampler = HybridBatchSampler([big, small], 4, mode="cross", seed=4)
    batches = [sampler.next_batch() for _ in range(2000)]
    share = sum(b.set_name == "small" for b in batches) / len(batches)
    assert abs(share - 0.25) <= 4 * math.sqrt(0.25 * 0.75 / 2000)
    assert all(b.kind == "mono" for b in batches if b.set_name == "small")
    assert all(b.kind == "cross" for b in batches if b.set_name == "big")


def test_every_triplet_once_per_epoch() -> None:
    sampler = HybridBatchSampler([parallel_set(size=40)], 8, mode="mono", seed=5)
    seen = [q.split()[-1] for _ in range(5) for q in sampler.next_batch().queries]
    assert sorted(seen, key=int) == [str(i) for i in range(40)]


def test_resume_continues_the_same_batch_sequence() -> None:
    sets = [parallel_set("a", 37), parallel_set("b", 23, langs=("en", "sw"))]
    reference = HybridBatchSampler(sets, 5, seed=6)
    expected = [reference.next_batch() for _ in range(40)]
    first = HybridBatchSampler(sets, 5, seed=6)
    got = [first.next_batch() for _ in range(17)]
    resumed = HybridBatchSampler(sets, 5, seed=6)
    resumed.load_state_dict(first.state_dict())
    got += [resumed.next_batch() for _ in range(23)]
    assert got == expected


def test_bad_input_is_refused_before_training() -> None:
    with pytest.raises(ValueError, match="alpha"):
        HybridBatchSampler([parallel_set()], 4, alpha=1.5)
    with pytest.raises(ValueError, match="lacks language"):
        HybridBatchSampler([parallel_set()], 4, languages=("en", "bn"))
    broken = parallel_set()
    broken.triplets = [*broken.triplets, ("q0", "p999", "p1")]
    with pytest.raises(ValueError, match="triplet 41: positive id 'p999'"):
        HybridBatchSampler([broken], 4)
    with pytest.raises(ValueError, match="mode"):
        HybridBatchSampler([parallel_set()], 4, mode="mixed")


def test_info_nce_against_a_float64_computation() -> None:
    generator = torch.Generator().manual_seed(0)
    q, p, n = (torch.randn(4, 6, generator=generator, dtype=torch.float64) for _ in range(3))
    loss = info_nce(q, p, n, temperature=0.1)
    passages = F.normalize(torch.cat([p, n]), dim=-1)
    scores = (F.normalize(q, dim=-1) @ passages.T / 0.1).numpy()
    expected = 0.0
    for i in range(4):
        expected -= scores[i, i] - math.log(sum(math.exp(s) for s in scores[i]))
    assert float(loss) == pytest.approx(expected / 4, rel=1e-12)


def test_batches_carry_their_query_ids() -> None:
    from hybrid_fixtures import parallel_set as make_set

    sampler = HybridBatchSampler([make_set()], 5, mode="cross", seed=4)
    batch = sampler.next_batch()
    training_set = make_set()
    assert len(batch.query_ids) == 5
    for qid, text, lang in zip(batch.query_ids, batch.queries, batch.query_langs, strict=True):
        assert training_set.queries[lang][qid] == text
