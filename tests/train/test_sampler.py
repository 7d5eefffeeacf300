"""The epoch sampler: permutations, sharding, resume."""

from __future__ import annotations

import pytest

from optical.train import EpochSampler, TrainConfig, learning_rate_factor


def test_every_example_once_per_epoch() -> None:
    sampler = EpochSampler(10, 5, seed=3)
    first = sampler.next_batch() + sampler.next_batch()
    assert sorted(first) == list(range(10))
    second = sampler.next_batch() + sampler.next_batch()
    assert sorted(second) == list(range(10)) and second != first


def test_shards_partition_the_single_process_global_batch() -> None:
    single = EpochSampler(23, 6, seed=1)
    ranks = [EpochSampler(23, 3, seed=1, rank=r, world_size=2) for r in range(2)]
    for _ in range(9):
        assert single.next_batch() == ranks[0].next_batch() + ranks[1].next_batch()


def test_resume_continues_the_same_sequence() -> None:
    reference = EpochSampler(17, 4, seed=2)
    expected = [reference.next_batch() for _ in range(12)]
    first = EpochSampler(17, 4, seed=2)
    got = [first.next_batch() for _ in range(7)]
    resumed = EpochSampler(17, 4, seed=2)
    resumed.load_state_dict(first.state_dict())
    got += [resumed.next_batch() for _ in range(5)]
    assert got == expected


def test_state_of_another_dataset_is_refused() -> None:
    state = EpochSampler(10, 2).state_dict()
    with pytest.raises(ValueError, match="10 examples"):
        EpochSampler(11, 2).load_state_dict(state)


def test_empty_dataset_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        EpochSampler(0, 2)


def test_learning_rate_warms_up_then_decays_to_zero() -> None:
    config = TrainConfig(steps=100, warmup=0.1)
    factors = [learning_rate_factor(s, config) for s in range(100)]
    assert factors[0] == pytest.approx(0.1) and factors[9] == pytest.approx(1.0)
    assert factors[10] == pytest.approx(1.0) and factors[99] == pytest.approx(1 / 90)
    cosine = TrainConfig(steps=100, warmup=0.0, schedule="cosine")
    assert learning_rate_factor(50, cosine) == pytest.approx(0.5)


def test_bad_train_options() -> None:
    with pytest.raises(ValueError, match="schedule"):
        TrainConfig(schedule="step")
    with pytest.raises(ValueError, match="warmup"):
        TrainConfig(warmup=1.5)
    with pytest.raises(ValueError, match="batch_size"):
        TrainConfig(batch_size=0)
